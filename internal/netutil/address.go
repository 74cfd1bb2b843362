package netutil

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// ErrNoAddress means the host has no usable IPv4 address, as in a fresh network
// namespace that only has loopback.
var ErrNoAddress = errors.New("no IPv4 address besides loopback: set nodeAddress in the config (or --node-address) to an address of this host")

// PrimaryIPv4 returns the IPv4 address of the interface that carries the
// default route, else the first global unicast IPv4 of an interface that is up.
func PrimaryIPv4() (net.IP, error) {
	if dev := defaultRouteDevice("/proc/net/route"); dev != "" {
		if ip := interfaceIPv4(dev); ip != nil {
			return ip, nil
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip := interfaceIPv4(ifc.Name); ip != nil {
			return ip, nil
		}
	}
	return nil, ErrNoAddress
}

// HasAddress reports whether ip is assigned to an interface of this host (in
// the current network namespace).
func HasAddress(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

func interfaceIPv4(name string) net.IP {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := n.IP.To4(); ip4 != nil && ip4.IsGlobalUnicast() {
			return ip4
		}
	}
	return nil
}

// defaultRouteDevice reads the kernel's IPv4 routing table and returns the
// interface of the default route ("" when there is none).
func defaultRouteDevice(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan() // header
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			return fields[0]
		}
	}
	return ""
}
