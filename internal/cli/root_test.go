package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/virtlab/dvp/internal/version"
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

// run executes d8 with args and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestUnknownCommandFails: a word that names no command is an error (so a
// non-zero exit), at the root and in the `v` group, under either name.
func TestUnknownCommandFails(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "d8"`},
		{[]string{"v", "bogus"}, `unknown command "bogus" for "d8 v"`},
		{[]string{"v", "ssh", "linux-vm"}, `unknown command "ssh" for "d8 v"`},
		{[]string{"virtualization", "bogus"}, `unknown command "bogus" for "d8 v"`},
	} {
		out, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("d8 %v: error %v, want %q (output %q)", tc.args, err, tc.want, out)
		}
	}
	// The bare group still shows its help and succeeds.
	for _, args := range [][]string{{}, {"v"}} {
		out, err := run(t, args...)
		if err != nil || !strings.Contains(out, "Available Commands") {
			t.Errorf("d8 %v: %v\n%s", args, err, out)
		}
	}
}

// TestVersionAndVerbosity: `d8 version` and `--version` print the
// version; -v and --v set the log verbosity as in kubectl.
func TestVersionAndVerbosity(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := run(t, args...)
		if err != nil || strings.TrimSpace(out) != "d8 version "+version.Version {
			t.Errorf("d8 %v: %q, %v", args, out, err)
		}
	}
	t.Cleanup(func() { _ = setVerbosity(0) })
	for _, args := range [][]string{{"-v", "4", "version"}, {"--v=5", "v"}, {"v", "-v", "6"}} {
		if out, err := run(t, args...); err != nil {
			t.Errorf("d8 %v: %v\n%s", args, err, out)
		}
		want := klog.Level(4)
		switch args[0] {
		case "--v=5":
			want = 5
		case "v":
			want = 6
		}
		if !klog.V(want).Enabled() || klog.V(want+1).Enabled() {
			t.Errorf("d8 %v: klog verbosity is not %d", args, want)
		}
	}
	if _, err := run(t, "-v", "version"); err == nil {
		t.Errorf("-v without a level is accepted; it must not mean --version")
	}
}
