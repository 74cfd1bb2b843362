package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtlab/dvp/internal/version"
)

// Env carries what every command needs: the standard kubeconfig flags
// (--kubeconfig, -n, --context, ...), bound with client-go's own flag set so
// they behave exactly as kubectl's (without linking kubectl's printers and
// kustomize, which would triple the size of d8).
type Env struct {
	Rules     *clientcmd.ClientConfigLoadingRules
	Overrides *clientcmd.ConfigOverrides
}

// NewEnv returns an Env with kubectl's defaults ($KUBECONFIG, ~/.kube/config).
func NewEnv() *Env {
	return &Env{Rules: clientcmd.NewDefaultClientConfigLoadingRules(), Overrides: &clientcmd.ConfigOverrides{}}
}

func (e *Env) clientConfig() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(e.Rules, e.Overrides)
}

// RESTConfig builds the client configuration from the standard flags.
func (e *Env) RESTConfig() (*rest.Config, error) {
	cfg, err := e.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}

// Namespace is -n, else the kubeconfig context's namespace, else "default".
func (e *Env) Namespace() (string, error) {
	ns, _, err := e.clientConfig().Namespace()
	if clientcmd.IsEmptyConfig(err) {
		// As kubectl: no kubeconfig yet still names a namespace; the
		// connection error comes when the command talks to the cluster.
		if e.Overrides.Context.Namespace != "" {
			return e.Overrides.Context.Namespace, nil
		}
		return "default", nil
	}
	return ns, err
}

// Dynamic returns a dynamic client for the configured cluster.
func (e *Env) Dynamic() (dynamic.Interface, error) {
	cfg, err := e.RESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

// NewRootCommand builds `d8` with its `v` (virtualization) command group.
func NewRootCommand() *cobra.Command {
	env := NewEnv()
	root := &cobra.Command{
		Use:           "d8",
		Short:         "Command-line client of the virtualization platform",
		SilenceUsage:  true,
		SilenceErrors: false,
		Version:       version.Version,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&env.Rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "path to the kubeconfig file")
	clientcmd.BindOverrideFlags(env.Overrides, pf, clientcmd.RecommendedConfigOverrideFlags(""))

	v := &cobra.Command{
		Use:     "v",
		Aliases: []string{"virtualization"},
		Short:   "Work with virtual machines (console, start, stop, ...)",
	}
	v.AddCommand(newConsoleCommand(env))
	for _, lc := range lifecycles {
		v.AddCommand(newLifecycleCommand(env, lc))
	}
	root.AddCommand(v)
	return root
}

// VMRef is a VirtualMachine named on the command line.
type VMRef struct{ Namespace, Name string }

// ParseVMRef accepts `name` or `name.namespace` (as upstream); -n or the
// kubeconfig namespace apply to the plain form.
func (e *Env) ParseVMRef(arg string) (VMRef, error) {
	if arg == "" {
		return VMRef{}, fmt.Errorf("a VirtualMachine name is required")
	}
	if name, ns, ok := strings.Cut(arg, "."); ok {
		if name == "" || ns == "" {
			return VMRef{}, fmt.Errorf("%q: expected NAME or NAME.NAMESPACE", arg)
		}
		return VMRef{Namespace: ns, Name: name}, nil
	}
	ns, err := e.Namespace()
	if err != nil {
		return VMRef{}, err
	}
	return VMRef{Namespace: ns, Name: arg}, nil
}
