// Command ipalloc measures address allocation: N machines (runPolicy
// AlwaysOff) created together, the time from each Create until the machine
// shows its address, and the API writes each allocation costs; side by
// side with the floor, N leases created directly by this client (one
// write per address, nothing else). Run it inside the server's network
// namespace: bench/ipalloc.sh.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtlab/dvp/api/client/clientset/versioned"
	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/bench/internal/benchutil"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of a running dvp server")
	n := flag.Int("n", 200, "machines")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	benchutil.Must(err)
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := versioned.NewForConfig(cfg)
	benchutil.Must(err)
	kube, err := kubernetes.NewForConfig(cfg)
	benchutil.Must(err)
	ctx := context.Background()

	before := writes(kube)
	created := make([]time.Time, *n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm := &v1alpha2.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vm-%03d", i), Namespace: "bench"},
				Spec: v1alpha2.VirtualMachineSpec{VirtualMachineClassName: "generic", RunPolicy: v1alpha2.RunPolicyAlwaysOff,
					CPU:             v1alpha2.CPUSpec{Cores: 1, CoreFraction: "10%"},
					BlockDeviceRefs: []v1alpha2.BlockDeviceSpecRef{{Kind: v1alpha2.BlockDeviceKindVirtualDisk, Name: "none"}}}}
			vm.Spec.Memory.Size = resource.MustParse("256Mi")
			created[i] = time.Now()
			_, err := cs.VirtualizationV1alpha2().VirtualMachines("bench").Create(ctx, vm, metav1.CreateOptions{})
			benchutil.Must(err)
		}()
	}
	wg.Wait()
	got := map[string]time.Time{}
	addrs := map[string]bool{}
	for len(got) < *n {
		list, err := cs.VirtualizationV1alpha2().VirtualMachines("bench").List(ctx, metav1.ListOptions{})
		benchutil.Must(err)
		for _, vm := range list.Items {
			if _, ok := got[vm.Name]; !ok && vm.Status.IPAddress != "" {
				got[vm.Name] = time.Now()
				if addrs[vm.Status.IPAddress] {
					benchutil.Must(fmt.Errorf("duplicate address %s", vm.Status.IPAddress))
				}
				addrs[vm.Status.IPAddress] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	total := time.Since(start)
	var per []time.Duration
	for i := range *n {
		per = append(per, got[fmt.Sprintf("vm-%03d", i)].Sub(created[i]))
	}
	after := writes(kube)

	// The floor, after the measurement so the lease controller releasing
	// these does not count: one lease per address, created by hand in
	// another range.
	floor := timeAll(*n, func(i int) {
		l := &v1alpha2.VirtualMachineIPAddressLease{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ip-10-99-%d-%d", i/250, i%250+1)},
			Spec: v1alpha2.VirtualMachineIPAddressLeaseSpec{VirtualMachineIPAddressRef: &v1alpha2.VirtualMachineIPAddressLeaseIPAddressRef{Name: "x", Namespace: "bench"}}}
		_, err := cs.VirtualizationV1alpha2().VirtualMachineIPAddressLeases().Create(ctx, l, metav1.CreateOptions{})
		benchutil.Must(err)
	})

	fmt.Printf("%d machines, %d distinct addresses, all shown after %s\n", *n, len(addrs), total.Round(time.Millisecond))
	fmt.Printf("%-48s %9s %9s %9s\n", "", "p50", "p99", "max")
	row("create -> machine shows its address", per)
	row("floor: create one lease directly (same client)", floor)
	var keys []string
	nwrites := 0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			keys = append(keys, k)
			nwrites += d
		}
	}
	sort.Strings(keys)
	fmt.Printf("API writes per machine: %.1f\n", float64(nwrites)/float64(*n))
	for _, k := range keys {
		fmt.Printf("  %-60s %6.2f\n", k, float64(after[k]-before[k])/float64(*n))
	}
}

func row(name string, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(100 * time.Microsecond) }
	fmt.Printf("%-48s %9s %9s %9s\n", name, q(0.5), q(0.99), d[len(d)-1].Round(100*time.Microsecond))
}

// timeAll runs f for 0..n-1 together and returns how long each took.
func timeAll(n int, f func(int)) []time.Duration {
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			f(i)
			out[i] = time.Since(t)
		}()
	}
	wg.Wait()
	return out
}

// writes is the apiserver's count of mutating requests so far, by verb,
// resource and subresource.
func writes(kube *kubernetes.Clientset) map[string]int {
	b, err := kube.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	benchutil.Must(err)
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		mutating := false
		for _, v := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`} {
			mutating = mutating || strings.Contains(line, v)
		}
		if !mutating {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			out[label(line, "verb")+" "+label(line, "resource")+" "+label(line, "subresource")] += int(v)
		}
	}
	return out
}

func label(line, name string) string {
	i := strings.Index(line, name+`="`)
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	return rest[:strings.Index(rest, `"`)]
}
