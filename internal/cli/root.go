package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

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
	var verbosity int
	root := &cobra.Command{
		Use:           "d8",
		Short:         "Command-line client of the virtualization platform",
		SilenceUsage:  true,
		SilenceErrors: false,
		// --version still works; -v is kubectl's verbosity (below), and
		// `d8 version` is the command upstream has.
		Version: version.Version,
		Args:    groupArgs,
		RunE:    groupRun,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return setVerbosity(verbosity)
		},
	}
	root.SetVersionTemplate("d8 version {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.IntVarP(&verbosity, "v", "v", 0, "number for the log level verbosity (as kubectl's -v)")
	pf.StringVar(&env.Rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "path to the kubeconfig file")
	clientcmd.BindOverrideFlags(env.Overrides, pf, clientcmd.RecommendedConfigOverrideFlags(""))

	v := &cobra.Command{
		Use:     "v",
		Aliases: []string{"virtualization"},
		Short:   "Work with virtual machines (console, start, stop, ...)",
		Args:    groupArgs,
		RunE:    groupRun,
	}
	v.AddCommand(newConsoleCommand(env))
	for _, lc := range lifecycles {
		v.AddCommand(newLifecycleCommand(env, lc))
	}
	root.AddCommand(v, newVersionCommand())
	return root
}

// groupArgs refuses a word that names no subcommand of a command group
// (cobra only does so for the root), as kubectl does:
// `unknown command "bogus" for "d8 v"`.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("unknown command %q for %q\nRun '%s --help' for usage", args[0], cmd.CommandPath(), cmd.CommandPath())
}

// groupRun shows a command group's help when it is run without a
// subcommand (groupArgs has refused anything else).
func groupRun(cmd *cobra.Command, _ []string) error { return cmd.Help() }

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of d8",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "d8 version %s\n", version.Version)
			return err
		},
	}
}

// setVerbosity passes -v to klog, which client-go logs through, so
// `d8 -v 6 ...` shows the requests as `kubectl -v 6` does.
func setVerbosity(level int) error {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	return fs.Set("v", strconv.Itoa(level))
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
