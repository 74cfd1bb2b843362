// Package subresources serves the aggregated API
// subresources.virtualization.deckhouse.io/v1alpha2: the serial console of
// a VirtualMachine (and, later, VNC and port forwarding). kube-apiserver
// authenticates the user and proxies the request here with its front-proxy
// client certificate and the user in X-Remote-* headers; this server
// trusts only that certificate, asks the apiserver (SubjectAccessReview)
// whether the user may use the subresource, and joins the user's websocket
// to the launcher's console socket through the node's API. Nothing here is
// reachable without Kubernetes credentials.
package subresources
