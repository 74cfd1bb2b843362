// Package imagetest builds DVCR disk images for tests, byte for byte as an
// attacker holding push credentials would: no importer, no checks.
package imagetest
