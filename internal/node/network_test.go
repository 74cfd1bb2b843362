package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/internal/launcher"
)

func launcherPod(annotations map[string]string, vm string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "virt-launcher-x", UID: "5e1f0c4a-9b2d-4e6f-8a1b-3c5d7e9f1a2b",
		Annotations: annotations, Labels: map[string]string{vmNameLabel: vm},
	}}
}

func TestPodEndpoint(t *testing.T) {
	if _, ok, err := podEndpoint(launcherPod(nil, "vm")); ok || err != nil {
		t.Errorf("a pod without the annotations asks for a network: %v %v", ok, err)
	}
	good := map[string]string{launcher.IPAddressAnnotation: "10.66.10.2", launcher.MACAddressAnnotation: "02:5a:00:00:00:0a"}
	e, ok, err := podEndpoint(launcherPod(good, "linux-vm"))
	if !ok || err != nil {
		t.Fatalf("podEndpoint: %v %v", ok, err)
	}
	if e.Tap != "dvpt5e1f0c4a9b" || e.IP.String() != "10.66.10.2" || e.MAC.String() != "02:5a:00:00:00:0a" || e.Hostname != "linux-vm" || e.PodUID != "5e1f0c4a-9b2d-4e6f-8a1b-3c5d7e9f1a2b" {
		t.Errorf("endpoint %+v", e)
	}
	for _, tc := range []struct {
		ip, mac, want string
	}{
		{"fd00::2", "02:5a:00:00:00:0a", "is not an IPv4 address"},
		{"10.66.10.2", "banana", "is not a MAC address"},
	} {
		_, ok, err := podEndpoint(launcherPod(map[string]string{launcher.IPAddressAnnotation: tc.ip, launcher.MACAddressAnnotation: tc.mac}, "vm"))
		if !ok || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v %v, want %q", tc.ip, tc.mac, ok, err, tc.want)
		}
	}
}

func TestHostname(t *testing.T) {
	for vm, want := range map[string]string{"linux-vm": "linux-vm", "web.prod": "web", "": "", strings.Repeat("a", 64): ""} {
		if got := hostname(vm); got != want {
			t.Errorf("hostname(%q) = %q, want %q", vm, got, want)
		}
	}
}

func TestPodNetEnv(t *testing.T) {
	base := []string{"PATH=/bin", launcher.ConfigEnv + `={"name":"vm","memoryMiB":64,"network":{"mode":"tap","mac":"02:5a:00:00:00:0a"},"future":{"x":1}}`}

	env, err := podNet{tap: "dvpt5e1f0c4a9b"}.env(append([]string(nil), base...))
	if err != nil || env[len(env)-1] != launcher.TapEnv+"=dvpt5e1f0c4a9b" || env[1] != base[1] {
		t.Errorf("tap env %v %v", env, err)
	}

	env, err = podNet{userMode: true}.env(append([]string(nil), base...))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(env[1], launcher.ConfigEnv+"=")), &cfg); err != nil {
		t.Fatal(err)
	}
	nic := cfg["network"].(map[string]any)
	if nic["mode"] != "user" || nic["mac"] != "02:5a:00:00:00:0a" || cfg["future"] == nil || cfg["memoryMiB"] != 64.0 {
		t.Errorf("user-mode config %v", cfg)
	}

	if env, err := (podNet{}).env(append([]string(nil), base...)); err != nil || len(env) != len(base) || env[1] != base[1] {
		t.Errorf("a pod without a network changed: %v %v", env, err)
	}
	if _, err := (podNet{userMode: true}).env([]string{launcher.ConfigEnv + "={"}); !errors.Is(err, errPodNetwork) {
		t.Errorf("bad config: %v", err)
	}
}

func TestPermanentStartErrors(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: tap exists", errPodNetwork):          "NetworkSetupFailed",
		fmt.Errorf("volume x: %w", errUnsupportedVolume):     "UnsupportedPod",
		errors.New(`configmap "kube-root-ca.crt" not found`): "",
	} {
		if got, ok := permanent(err); got != want || ok != (want != "") {
			t.Errorf("permanent(%v) = %q %v", err, got, ok)
		}
	}
}
