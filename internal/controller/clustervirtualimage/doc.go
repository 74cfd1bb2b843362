// Package clustervirtualimage reconciles ClusterVirtualImages: the cluster-
// wide counterpart of VirtualImage, imported by pods in the platform
// namespace into DVCR repository cvi/<name>.
package clustervirtualimage
