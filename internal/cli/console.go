package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

var vmResource = schema.GroupVersionResource{Group: "virtualization.deckhouse.io", Version: "v1alpha2", Resource: "virtualmachines"}

const subresourceGroup = "subresources.virtualization.deckhouse.io"

// escapeByte is Ctrl+], which ends a console session.
const escapeByte = 0x1d

func newConsoleCommand(env *Env) *cobra.Command {
	var timeout time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:     "console (VirtualMachine)",
		Short:   "Connect to the serial console of a virtual machine (escape: Ctrl+])",
		Example: "  d8 v console -n vms linux-vm\n  d8 v console linux-vm.vms",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := env.ParseVMRef(args[0])
			if err != nil {
				return err
			}
			cfg, err := env.RESTConfig()
			if err != nil {
				return err
			}
			dyn, err := env.Dynamic()
			if err != nil {
				return err
			}
			_, err = dyn.Resource(vmResource).Namespace(ref.Namespace).Get(cmd.Context(), ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("VirtualMachine %q not found in namespace %q", ref.Name, ref.Namespace)
			}
			if err != nil {
				return err
			}
			ws, err := dialConsole(cmd.Context(), cfg, ref, force, timeout, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer ws.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "Successfully connected to %s console. The escape sequence is ^]\n", ref.Name)
			return runConsole(ws, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the console to become available")
	cmd.Flags().BoolVar(&force, "force", false, "take over the console from another connected client")
	return cmd
}

// consoleURL is the console subresource of the aggregated API.
func consoleURL(cfg *rest.Config, ref VMRef, force bool) (string, error) {
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "https", "":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + fmt.Sprintf("/apis/%s/v1alpha2/namespaces/%s/virtualmachines/%s/console", subresourceGroup, ref.Namespace, ref.Name)
	if force {
		u.RawQuery = "force=true"
	}
	return u.String(), nil
}

// dialConsole connects through kube-apiserver with the kubeconfig's
// credentials, waiting up to timeout while the machine is not running yet.
func dialConsole(ctx context.Context, cfg *rest.Config, ref VMRef, force bool, timeout time.Duration, log io.Writer) (*websocket.Conn, error) {
	target, err := consoleURL(cfg, ref, force)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	if cfg.BearerToken != "" {
		header.Set("Authorization", "Bearer "+cfg.BearerToken)
	} else if cfg.BearerTokenFile != "" {
		b, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			return nil, err
		}
		header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	}
	if cfg.Username != "" {
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(cfg.Username, cfg.Password)
		header.Set("Authorization", req.Header.Get("Authorization"))
	}
	d := websocket.Dialer{TLSClientConfig: tlsCfg, Subprotocols: []string{"plain.kubevirt.io"}, HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment}
	deadline := time.Now().Add(timeout)
	waiting := false
	for {
		ws, resp, err := d.DialContext(ctx, target, header)
		if err == nil {
			return ws, nil
		}
		status, msg := responseError(resp, err)
		// Only "not running yet" is worth waiting for; refusals are final.
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return nil, errors.New(msg)
		}
		if !waiting {
			fmt.Fprintf(log, "Waiting for the console of %s/%s: %s\n", ref.Namespace, ref.Name, msg)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// responseError turns a failed handshake into the server's own message
// (a Kubernetes Status when the apiserver or the platform refused).
func responseError(resp *http.Response, err error) (int, string) {
	if resp == nil {
		return 0, fmt.Sprintf("connecting to the console: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return resp.StatusCode, st.Message
	}
	if len(b) > 0 {
		return resp.StatusCode, fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.StatusCode, fmt.Sprintf("connecting to the console: %s", resp.Status)
}

// runConsole passes bytes both ways until Ctrl+] on the input, the end of
// the input, or the end of the connection. A terminal is put in raw mode
// and restored on the way out.
func runConsole(ws *websocket.Conn, in io.Reader, out io.Writer) error {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		state, err := term.MakeRaw(int(f.Fd()))
		if err == nil {
			defer func() {
				_ = term.Restore(int(f.Fd()), state)
				fmt.Fprintln(out)
			}()
		}
	}
	var wmu sync.Mutex
	write := func(typ int, b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return ws.WriteMessage(typ, b)
	}
	done := make(chan error, 2)
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				done <- closeError(err)
				return
			}
			if _, err := out.Write(b); err != nil {
				done <- err
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				chunk := buf[:n]
				if i := strings.IndexByte(string(chunk), escapeByte); i >= 0 {
					if i > 0 {
						_ = write(websocket.BinaryMessage, chunk[:i])
					}
					done <- nil
					return
				}
				if err := write(websocket.BinaryMessage, chunk); err != nil {
					done <- err
					return
				}
			}
			if err != nil {
				done <- nil
				return
			}
		}
	}()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			_ = write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return err
		case <-t.C:
			_ = write(websocket.PingMessage, nil)
		}
	}
}

// closeError is how a console session that the server ended ends the
// command: a normal close is success; a close with a reason (another
// client took the console over with --force) fails with that reason.
func closeError(err error) error {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return fmt.Errorf("console connection lost: %w", err)
	}
	switch {
	case (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) && ce.Text == "":
		return nil
	case ce.Text != "":
		return errors.New(ce.Text)
	default:
		return fmt.Errorf("console connection lost: %w", err)
	}
}
