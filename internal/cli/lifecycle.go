package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var vmopResource = schema.GroupVersionResource{Group: "virtualization.deckhouse.io", Version: "v1alpha2", Resource: "virtualmachineoperations"}

// lifecycle describes one of start, stop and restart.
type lifecycle struct {
	verb, opType, done string
	forceable          bool
}

var lifecycles = []lifecycle{
	{verb: "start", opType: "Start", done: "started"},
	{verb: "stop", opType: "Stop", done: "stopped", forceable: true},
	{verb: "restart", opType: "Restart", done: "restarted", forceable: true},
}

type lifecycleFlags struct {
	yes, force, wait, createOnly, all bool
	selector                          string
	timeout                           time.Duration
}

func newLifecycleCommand(env *Env, lc lifecycle) *cobra.Command {
	var f lifecycleFlags
	cmd := &cobra.Command{
		Use:     lc.verb + " (VirtualMachine)",
		Short:   fmt.Sprintf("%s a virtual machine (creates a VirtualMachineOperation of type %s)", strings.ToUpper(lc.verb[:1])+lc.verb[1:], lc.opType),
		Example: fmt.Sprintf("  d8 v %s -n vms linux-vm\n  d8 v %s linux-vm.vms --wait", lc.verb, lc.verb),
		Args: func(cmd *cobra.Command, args []string) error {
			if f.all || f.selector != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dyn, err := env.Dynamic()
			if err != nil {
				return err
			}
			refs, err := env.selectVMs(cmd.Context(), dyn, args, f.all, f.selector)
			if err != nil {
				return err
			}
			var failed []string
			for _, ref := range refs {
				if err := runLifecycle(cmd.Context(), cmd.OutOrStdout(), dyn, ref, lc, f); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
					failed = append(failed, ref.Namespace+"/"+ref.Name)
				}
			}
			if len(failed) > 0 {
				cmd.SilenceErrors = true
				return fmt.Errorf("%s failed for %s", lc.verb, strings.Join(failed, ", "))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (commands never prompt; accepted for compatibility)")
	if lc.forceable {
		fl.BoolVarP(&f.force, "force", "f", false, "do not wait for the guest to shut down: stop the machine at once")
	}
	fl.BoolVarP(&f.wait, "wait", "w", false, "wait until the operation has completed")
	fl.BoolVarP(&f.createOnly, "create-only", "c", false, "create the operation and return without checking that it was accepted")
	fl.BoolVar(&f.all, "all", false, "act on every VirtualMachine in the namespace")
	fl.StringVarP(&f.selector, "label-selector", "l", "", "act on the VirtualMachines matching this label selector")
	fl.DurationVarP(&f.timeout, "timeout", "t", 5*time.Minute, "how long --wait waits")
	return cmd
}

// selectVMs resolves the positional argument or --all / -l.
func (e *Env) selectVMs(ctx context.Context, dyn dynamic.Interface, args []string, all bool, selector string) ([]VMRef, error) {
	if len(args) == 1 {
		ref, err := e.ParseVMRef(args[0])
		if err != nil {
			return nil, err
		}
		_, err = dyn.Resource(vmResource).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("VirtualMachine %q not found in namespace %q", ref.Name, ref.Namespace)
		}
		return []VMRef{ref}, err
	}
	ns, err := e.Namespace()
	if err != nil {
		return nil, err
	}
	list, err := dyn.Resource(vmResource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no VirtualMachines match in namespace %q", ns)
	}
	var out []VMRef
	for _, it := range list.Items {
		out = append(out, VMRef{Namespace: ns, Name: it.GetName()})
	}
	return out, nil
}

func runLifecycle(ctx context.Context, out io.Writer, dyn dynamic.Interface, ref VMRef, lc lifecycle, f lifecycleFlags) error {
	spec := map[string]any{"type": lc.opType, "virtualMachineName": ref.Name}
	if f.force {
		spec["force"] = true
	}
	op := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": vmopResource.Group + "/" + vmopResource.Version,
		"kind":       "VirtualMachineOperation",
		"metadata":   map[string]any{"generateName": ref.Name + "-", "namespace": ref.Namespace},
		"spec":       spec,
	}}
	created, err := dyn.Resource(vmopResource).Namespace(ref.Namespace).Create(ctx, op, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the %s operation for %s/%s: %w", lc.opType, ref.Namespace, ref.Name, err)
	}
	name := created.GetName()
	if f.createOnly {
		fmt.Fprintf(out, "VirtualMachineOperation %s/%s (%s of VirtualMachine %s) created\n", ref.Namespace, name, lc.opType, ref.Name)
		return nil
	}
	// Even without --wait, wait for the operation to be accepted: a
	// refusal (e.g. Stop of an AlwaysOn machine) is reported here.
	limit := 10 * time.Second
	if f.wait {
		limit = f.timeout
	}
	deadline := time.Now().Add(limit)
	for {
		cur, err := dyn.Resource(vmopResource).Namespace(ref.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		phase, _, _ := unstructured.NestedString(cur.Object, "status", "phase")
		switch {
		case phase == "Failed":
			return fmt.Errorf("VirtualMachine %s/%s cannot be %s: %s (operation %s)", ref.Namespace, ref.Name, lc.done, completedMessage(cur), name)
		case phase == "Superseded":
			return fmt.Errorf("operation %s was superseded: %s", name, completedMessage(cur))
		case phase == "Completed":
			fmt.Fprintf(out, "VirtualMachine %s/%s %s (operation %s)\n", ref.Namespace, ref.Name, lc.done, name)
			return nil
		case phase == "InProgress" && !f.wait:
			fmt.Fprintf(out, "VirtualMachine %s/%s will be %s (operation %s)\n", ref.Namespace, ref.Name, lc.done, name)
			return nil
		}
		if time.Now().After(deadline) {
			if f.wait {
				return fmt.Errorf("timed out after %s waiting for operation %s (phase %q)", limit, name, phase)
			}
			fmt.Fprintf(out, "VirtualMachineOperation %s/%s created (phase %q)\n", ref.Namespace, name, phase)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func completedMessage(op *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(op.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Completed" {
			continue
		}
		msg, _ := m["message"].(string)
		reason, _ := m["reason"].(string)
		if msg == "" {
			return reason
		}
		return fmt.Sprintf("%s: %s", reason, msg)
	}
	return "no reason given"
}
