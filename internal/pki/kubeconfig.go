package pki

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig renders a kubeconfig for one identity with embedded credentials,
// so the file can be copied to another machine as is.
func Kubeconfig(server string, caPEM, certPEM, keyPEM []byte, user string) ([]byte, error) {
	const name = "dvp"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("rendering kubeconfig: %w", err)
	}
	return b, nil
}

// ClientKubeconfig issues a client certificate for user/groups and renders a
// kubeconfig for it.
func (ca *CA) ClientKubeconfig(server, user string, groups []string) ([]byte, error) {
	certPEM, keyPEM, err := ca.Issue(LeafRequest{CommonName: user, Organization: groups, Client: true})
	if err != nil {
		return nil, err
	}
	return Kubeconfig(server, ca.PEM, certPEM, keyPEM, user)
}
