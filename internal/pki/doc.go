// Package pki creates and loads the certificate authorities, serving and client
// certificates, service-account keys and kubeconfigs of an all-in-one platform.
//
// Everything lives under one directory (DATA/pki) and is created on first start
// only: later starts load what is there, so kubeconfigs handed out earlier stay
// valid across restarts.
package pki
