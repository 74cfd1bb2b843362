// Command dvp is the platform binary: the all-in-one server, the controller
// manager, and helpers that mint kubeconfigs. It links the Kubernetes control
// plane; per-VM and per-import processes use the lean dvp-worker instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/controlplane"
	"github.com/virtlab/dvp/internal/manager"
	"github.com/virtlab/dvp/internal/pki"
	"github.com/virtlab/dvp/internal/version"
)

func main() {
	// The controller-manager and scheduler run as children of this binary and
	// parse their own flags, exactly as the upstream commands do.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "kube-controller-manager":
			exit(controlplane.RunControllerManager(os.Args[2:]))
		case "kube-scheduler":
			exit(controlplane.RunScheduler(os.Args[2:]))
		}
	}
	exit(rootCommand().Execute())
}

func exit(err error) {
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "dvp",
		Short:         "Virtual machines on Kubernetes: the platform binary",
		SilenceUsage:  true,
		SilenceErrors: false,
		Version:       version.Version,
	}
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	root.PersistentFlags().AddGoFlag(klogFlags.Lookup("v"))
	root.AddCommand(serverCommand(), controllerCommand(), kubeconfigCommand())
	return root
}

func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	return klog.NewContext(ctx, klog.Background()), cancel
}

func serverCommand() *cobra.Command {
	var dataDir, configPath, nodeAddress string
	var apiPort, etcdPort, webhookPort, dvcrPort int
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the all-in-one platform: etcd, Kubernetes control plane, controllers",
		Long: `Run the all-in-one platform in the foreground. All state lives under --data-dir;
the admin kubeconfig appears at <data-dir>/kubeconfig once the platform is ready.
SIGTERM or Ctrl+C stops it; starting it again on the same directory resumes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("node-address") {
				cfg.NodeAddress = nodeAddress
			}
			if cmd.Flags().Changed("api-port") {
				cfg.APIPort = apiPort
			}
			if cmd.Flags().Changed("etcd-port") {
				cfg.EtcdPort = etcdPort
			}
			if cmd.Flags().Changed("webhook-port") {
				cfg.WebhookPort = webhookPort
			}
			if cmd.Flags().Changed("dvcr-port") {
				cfg.DVCRPort = dvcrPort
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("flags: %w", err)
			}
			srv, err := controlplane.New(dataDir, cfg, runPlatform)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "/var/lib/dvp", "directory holding all state (etcd, certificates, volumes)")
	f.StringVar(&configPath, "config", "", "settings file (YAML); defaults apply when omitted")
	f.StringVar(&nodeAddress, "node-address", "", "IPv4 address to advertise (overrides nodeAddress)")
	f.IntVar(&apiPort, "api-port", config.DefaultAPIPort, "kube-apiserver port (overrides apiPort)")
	f.IntVar(&etcdPort, "etcd-port", config.DefaultEtcdPort, "etcd client port on loopback (overrides etcdPort)")
	f.IntVar(&webhookPort, "webhook-port", config.DefaultWebhookPort, "admission webhook port (overrides webhookPort)")
	f.IntVar(&dvcrPort, "dvcr-port", config.DefaultDVCRPort, "DVCR port; the upload gateway uses the next one (overrides dvcrPort)")
	return cmd
}

// runPlatform runs the controller manager inside `dvp server`.
func runPlatform(ctx context.Context, env controlplane.PlatformEnv, ready chan<- struct{}) error {
	uploadAddr := net.JoinHostPort(env.NodeIP.String(), strconv.Itoa(env.Config.DVCRPort+1))
	return manager.Run(ctx, manager.Options{
		RESTConfig:  env.RESTConfig,
		Config:      env.Config,
		WebhookHost: env.NodeIP.String(),
		WebhookPort: env.Config.WebhookPort,
		CertDir:     env.CertDir,
		// Only kube-apiserver, with the client certificate the server
		// configured for admission, may call the webhooks.
		WebhookClientCA: filepath.Join(env.CertDir, pki.CACert),
		WebhookClientCN: pki.WebhookClientCN,
		// The console is served beside the webhooks: kube-apiserver proxies
		// it there, and it reaches the nodes with the apiserver's kubelet
		// client certificate.
		Subresources: &manager.SubresourceOptions{
			FrontProxyCA: filepath.Join(env.CertDir, pki.FrontProxyCACert),
			AllowedNames: []string{pki.FrontProxyClient},
			NodeCert:     filepath.Join(env.CertDir, pki.APIServerKubelet+".crt"),
			NodeKey:      filepath.Join(env.CertDir, pki.APIServerKubelet+".key"),
			NodeCA:       filepath.Join(env.CertDir, pki.CACert),
		},
		Images: &importjob.Env{
			DVCRAddress: env.DVCR.Address, DVCRSecret: env.DVCR.Secret, DVCRHost: controlplane.DVCRHost,
			Registry: env.DVCR, RequestGC: env.DVCR.RequestGC,
		},
		// The upload gateway listens next to DVCR, on dvcrPort+1, with the
		// platform's serving certificate.
		Uploads: &manager.UploadOptions{
			Addr:       uploadAddr,
			BaseURL:    "https://" + uploadAddr,
			CertFile:   filepath.Join(env.CertDir, pki.PlatformServing+".crt"),
			KeyFile:    filepath.Join(env.CertDir, pki.PlatformServing+".key"),
			CAFile:     filepath.Join(env.CertDir, pki.CACert),
			ScratchDir: filepath.Join(filepath.Dir(env.CertDir), "uploads"),
		},
	}, ready)
}

func controllerCommand() *cobra.Command {
	var kubeconfig, configPath, certDir, host string
	var port int
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the platform's controllers and webhooks against a cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading kubeconfig: %w", err)
			}
			ctx, cancel := signalContext()
			defer cancel()
			return manager.Run(ctx, manager.Options{RESTConfig: rc, Config: cfg, WebhookHost: host, WebhookPort: port, CertDir: certDir}, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	f.StringVar(&configPath, "config", "", "settings file (YAML)")
	f.StringVar(&certDir, "cert-dir", "", "directory with "+pki.PlatformServing+".crt/.key for the webhook server")
	f.StringVar(&host, "webhook-host", "", "address the webhook server listens on")
	f.IntVar(&port, "webhook-port", config.DefaultWebhookPort, "webhook server port")
	return cmd
}

func kubeconfigCommand() *cobra.Command {
	var dataDir, user, output string
	var groups []string
	cmd := &cobra.Command{
		Use:   "kubeconfig --user NAME [--group G]...",
		Short: "Mint a kubeconfig for another identity, signed by the platform's CA",
		Example: `  dvp kubeconfig --data-dir /var/lib/dvp --user alice --group dev > alice.kubeconfig
  KUBECONFIG=alice.kubeconfig kubectl auth can-i list virtualmachines -n vms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return errors.New("--user is required")
			}
			admin, err := clientcmd.LoadFromFile(controlplane.AdminKubeconfigPath(dataDir))
			if err != nil {
				return fmt.Errorf("no running platform found in %s (its kubeconfig is written once the server is ready): %w", dataDir, err)
			}
			ctx := admin.Contexts[admin.CurrentContext]
			if ctx == nil || admin.Clusters[ctx.Cluster] == nil {
				return fmt.Errorf("%s has no current context", controlplane.AdminKubeconfigPath(dataDir))
			}
			pkiDir := filepath.Join(dataDir, "pki")
			ca, err := pki.LoadCA(filepath.Join(pkiDir, pki.CACert), filepath.Join(pkiDir, pki.CAKey))
			if err != nil {
				return fmt.Errorf("loading the platform CA: %w", err)
			}
			b, err := ca.ClientKubeconfig(admin.Clusters[ctx.Cluster].Server, user, groups)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return pki.WriteFile(output, b, 0o600)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "/var/lib/dvp", "data directory of the server")
	f.StringVar(&user, "user", "", "user name (certificate common name)")
	f.StringArrayVar(&groups, "group", nil, "group (repeatable)")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}
