package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var vmResource = schema.GroupVersionResource{Group: "virtualization.deckhouse.io", Version: "v1alpha2", Resource: "virtualmachines"}

// ErrConsoleUnavailable is returned until the console subresource is served.
var ErrConsoleUnavailable = errors.New("the serial console is not served by this platform version yet")

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
			return fmt.Errorf("%s/%s: %w", ref.Namespace, ref.Name, ErrConsoleUnavailable)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the console to become available")
	cmd.Flags().BoolVar(&force, "force", false, "take over the console from another connected client")
	return cmd
}
