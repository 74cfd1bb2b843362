package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSeedConsoleFormParses checks that the seed's `d8 v console -n vms
// linux-vm` (and the long alias) resolve to the console command with the VM
// name as its argument and the namespace flag set.
func TestSeedConsoleFormParses(t *testing.T) {
	for _, args := range [][]string{
		{"v", "console", "-n", "vms", "linux-vm"},
		{"virtualization", "console", "linux-vm", "--namespace", "vms"},
		{"-n", "vms", "v", "console", "linux-vm"},
	} {
		root := NewRootCommand()
		cmd, rest, err := root.Find(args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if cmd.Name() != "console" {
			t.Fatalf("%v resolved to %q", args, cmd.Name())
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got := cmd.Flags().Args(); len(got) != 1 || got[0] != "linux-vm" {
			t.Fatalf("%v: positional args %v", args, got)
		}
		if ns, _ := cmd.Flags().GetString("namespace"); ns != "vms" {
			t.Fatalf("%v: namespace %q", args, ns)
		}
	}
}

func TestParseVMRef(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", empty)
	for _, tc := range []struct {
		ns      string
		arg     string
		want    VMRef
		wantErr bool
	}{
		{ns: "vms", arg: "linux-vm", want: VMRef{"vms", "linux-vm"}},
		{arg: "linux-vm", want: VMRef{"default", "linux-vm"}},
		{arg: "linux-vm.prod", want: VMRef{"prod", "linux-vm"}},
		{ns: "vms", arg: "linux-vm.prod", want: VMRef{"prod", "linux-vm"}},
		{arg: "", wantErr: true},
		{arg: ".vms", wantErr: true},
		{arg: "vm.", wantErr: true},
	} {
		env := NewEnv()
		env.Overrides.Context.Namespace = tc.ns
		got, err := env.ParseVMRef(tc.arg)
		if (err != nil) != tc.wantErr {
			t.Fatalf("ParseVMRef(%q) error = %v, wantErr %v", tc.arg, err, tc.wantErr)
		}
		if !tc.wantErr && got != tc.want {
			t.Fatalf("ParseVMRef(%q) with -n %q = %+v, want %+v", tc.arg, tc.ns, got, tc.want)
		}
	}
}
