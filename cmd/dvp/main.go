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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/config"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/controlplane"
	"github.com/virtlab/dvp/internal/logging"
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
	logOpts := logging.Options{Level: logging.LevelInfo, Format: logging.FormatText}
	root.PersistentFlags().StringVar(&logOpts.Level, "log-level", logOpts.Level,
		"error: errors only; info: what the platform does and every error; debug: also the embedded Kubernetes components' own lines")
	root.PersistentFlags().StringVar(&logOpts.Format, "log-format", logOpts.Format, "text or json (one object per line)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		logOpts.Verbosity, _ = strconv.Atoi(klogFlags.Lookup("v").Value.String())
		l, err := logging.Setup(logOpts, os.Stderr)
		if err != nil {
			return err
		}
		logger = l
		return nil
	}
	root.AddCommand(serverCommand(), controllerCommand(), kubeconfigCommand())
	return root
}

// logger is what the commands' contexts carry, set up from the flags before
// any command runs.
var logger = klog.Background()

func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	return klog.NewContext(ctx, logger), cancel
}

func serverCommand() *cobra.Command {
	var dataDir, configPath, nodeAddress string
	var externalControllers, stopVMs bool
	var apiPort, etcdPort, webhookPort, dvcrPort int
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the all-in-one platform: etcd, Kubernetes control plane, controllers",
		Long: `Run the all-in-one platform in the foreground. All state lives under --data-dir;
the admin kubeconfig appears at <data-dir>/kubeconfig once the platform is ready.
SIGTERM or Ctrl+C stops it; virtual machines keep running (unless
--stop-vms-on-exit) and starting it again on the same directory resumes and
adopts them.`,
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
			platform := controlplane.Platform(runPlatform)
			if externalControllers {
				platform = nil
			}
			srv, err := controlplane.New(dataDir, cfg, platform)
			if err != nil {
				return err
			}
			srv.StopVMsOnExit = stopVMs
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
	f.BoolVar(&stopVMs, "stop-vms-on-exit", false,
		"on SIGTERM or Ctrl+C, shut down every virtual machine (and other pod) of this host before exiting; by default they keep running and the next start adopts them")
	f.BoolVar(&externalControllers, "external-controllers", false,
		"do not run the platform's controllers and webhooks in this process: `dvp controller` runs them (its kubeconfig is written to <data-dir>/controller.kubeconfig)")
	return cmd
}

// runPlatform runs the controller manager inside `dvp server`.
func runPlatform(ctx context.Context, env controlplane.PlatformEnv, ready chan<- struct{}) error {
	o := platformOptions(env.RESTConfig, env.Config, env.NodeIP, env.CertDir, env.DVCR.Address, env.DVCR.Secret)
	o.Images.Registry, o.Images.RequestGC = env.DVCR, env.DVCR.RequestGC
	return manager.Run(ctx, o, ready)
}

// platformOptions configures the controllers, webhooks, console and upload
// gateway from the server's settings and certificates; `dvp server` and
// `dvp controller` share it.
func platformOptions(rc *rest.Config, cfg *config.Config, nodeIP net.IP, certDir, dvcrAddress string, dvcrSecret []byte) manager.Options {
	uploadAddr := net.JoinHostPort(nodeIP.String(), strconv.Itoa(cfg.DVCRPort+1))
	return manager.Options{
		RESTConfig:  rc,
		Config:      cfg,
		WebhookHost: nodeIP.String(),
		WebhookPort: cfg.WebhookPort,
		CertDir:     certDir,
		// Only kube-apiserver, with the client certificate the server
		// configured for admission, may call the webhooks.
		WebhookClientCA: filepath.Join(certDir, pki.CACert),
		WebhookClientCN: pki.WebhookClientCN,
		// The console is served beside the webhooks: kube-apiserver proxies
		// it there, and it reaches the nodes with the apiserver's kubelet
		// client certificate.
		Subresources: &manager.SubresourceOptions{
			FrontProxyCA: filepath.Join(certDir, pki.FrontProxyCACert),
			AllowedNames: []string{pki.FrontProxyClient},
			NodeCert:     filepath.Join(certDir, pki.APIServerKubelet+".crt"),
			NodeKey:      filepath.Join(certDir, pki.APIServerKubelet+".key"),
			NodeCA:       filepath.Join(certDir, pki.CACert),
		},
		Images: &importjob.Env{DVCRAddress: dvcrAddress, DVCRSecret: dvcrSecret, DVCRHost: controlplane.DVCRHost,
			MaxImageSize: cfg.Import.MaxImageSizeBytes(), AllowedAddresses: cfg.Import.AllowedAddresses},
		// The upload gateway listens next to DVCR, on dvcrPort+1, with the
		// platform's serving certificate.
		Uploads: &manager.UploadOptions{
			Addr:       uploadAddr,
			BaseURL:    "https://" + uploadAddr,
			CertFile:   filepath.Join(certDir, pki.PlatformServing+".crt"),
			KeyFile:    filepath.Join(certDir, pki.PlatformServing+".key"),
			CAFile:     filepath.Join(certDir, pki.CACert),
			ScratchDir: filepath.Join(filepath.Dir(certDir), "uploads"),
		},
	}
}

func controllerCommand() *cobra.Command {
	var kubeconfig, configPath, pkiDir, nodeAddress string
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the platform's controllers, webhooks, console and upload gateway against a running server",
		Long: `Run the platform's controllers in their own process, for a server started with
--external-controllers. They talk to the cluster only through kube-apiserver (the
kubeconfig), and serve the admission webhooks, the console API and the upload
gateway on the node address, with the certificates the server issued.`,
		Example: "  dvp controller --kubeconfig /var/lib/dvp/controller.kubeconfig --pki-dir /var/lib/dvp/pki --node-address 10.0.0.5",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			if nodeAddress != "" {
				cfg.NodeAddress = nodeAddress
			}
			ip := net.ParseIP(cfg.NodeAddress)
			if ip == nil {
				return fmt.Errorf("--node-address (or nodeAddress in --config) must be the server's node address, got %q", cfg.NodeAddress)
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading kubeconfig: %w", err)
			}
			secret, err := os.ReadFile(filepath.Join(pkiDir, "dvcr.secret"))
			if err != nil {
				return fmt.Errorf("DVCR credentials: %w", err)
			}
			ctx, cancel := signalContext()
			defer cancel()
			o := platformOptions(rc, cfg, ip, pkiDir, net.JoinHostPort(ip.String(), strconv.Itoa(cfg.DVCRPort)), secret)
			return manager.Run(ctx, o, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the platform's controller identity")
	f.StringVar(&configPath, "config", "", "the server's settings file (YAML)")
	f.StringVar(&pkiDir, "pki-dir", "/var/lib/dvp/pki", "the server's certificate directory")
	f.StringVar(&nodeAddress, "node-address", "", "the server's node address (overrides nodeAddress)")
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
