// Package netutil finds the address a node advertises.
package netutil
