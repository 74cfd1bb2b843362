package subresources

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
)

// Subprotocols a console client may ask for; bytes travel as binary
// messages either way.
var subprotocols = []string{"plain.kubevirt.io", "binary.k8s.io"}

// launcherContainer is the container whose sockets the node exposes.
const launcherContainer = "d8v-compute"

// session is the one console connection a machine has.
type session struct {
	user  string
	since time.Time
	// close ends the session; a non-empty reason goes to the client in
	// the websocket close frame (the client prints it and fails).
	close func(reason string)
}

// closeTakenOver is the close code (from the private range 4000-4999) of
// a session another client took over with --force.
const closeTakenOver = 4001

func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request, u user, ns, name string) {
	ctx := r.Context()
	allowed, reason, err := s.authorize(ctx, u, "get", ns, name, "console")
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", "authorizing the request: "+err.Error())
		return
	}
	if !allowed {
		msg := fmt.Sprintf("virtualmachines.%s %q is forbidden: User %q cannot get resource \"virtualmachines/console\" in API group %q in the namespace %q", Group, name, u.Name, Group, ns)
		if reason != "" {
			msg += ": " + reason
		}
		writeStatus(w, http.StatusForbidden, "Forbidden", msg)
		return
	}
	pod, status, msg := s.launcherPod(ctx, ns, name)
	if pod == nil {
		writeStatus(w, status, metav1.StatusReason(http.StatusText(status)), msg)
		return
	}
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	key := ns + "/" + name
	s.mu.Lock()
	if cur, ok := s.sessions[key]; ok && !force {
		s.mu.Unlock()
		writeStatus(w, http.StatusConflict, "Conflict", fmt.Sprintf("the console of VirtualMachine %s is in use by %s since %s; use --force to take it over",
			key, cur.user, cur.since.UTC().Format(time.RFC3339)))
		return
	}
	s.mu.Unlock()

	node, err := s.dialStream(ctx, pod, "serial")
	if err != nil {
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", fmt.Sprintf("the console of VirtualMachine %s is not available: %v", key, err))
		return
	}
	defer node.Close()
	up := websocket.Upgrader{Subprotocols: subprotocols, CheckOrigin: func(*http.Request) bool { return true }, ReadBufferSize: 4096, WriteBufferSize: 4096}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered already
	}
	defer ws.Close()

	done := make(chan struct{})
	var once bool
	var why string
	stop := func(reason string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !once {
			once, why = true, reason
			close(done)
		}
	}
	me := &session{user: u.Name, since: time.Now(), close: stop}
	s.mu.Lock()
	if cur, ok := s.sessions[key]; ok {
		logger(r).Info("Console taken over", "vm", key, "from", cur.user, "by", u.Name)
		go cur.close("the console was taken over by " + u.Name)
	}
	s.sessions[key] = me
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.sessions[key] == me {
			delete(s.sessions, key)
		}
		s.mu.Unlock()
	}()
	logger(r).Info("Console connected", "vm", key, "user", u.Name, "pod", pod.Name)

	var wmu chanMutex = make(chan struct{}, 1)
	send := func(typ int, b []byte) error {
		wmu <- struct{}{}
		defer func() { <-wmu }()
		_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return ws.WriteMessage(typ, b)
	}
	go func() { // guest -> user
		defer stop("")
		buf := make([]byte, 32<<10)
		for {
			n, err := node.Read(buf)
			if n > 0 && send(websocket.BinaryMessage, buf[:n]) != nil {
				return
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // user -> guest
		defer stop("")
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if _, err := node.Write(b); err != nil {
				return
			}
		}
	}()
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			s.mu.Lock()
			reason := why
			s.mu.Unlock()
			_ = send(websocket.CloseMessage, closeFrame(reason))
			logger(r).Info("Console disconnected", "vm", key, "user", u.Name)
			return
		case <-t.C:
			// Pings keep proxies and the apiserver from timing out an
			// idle console.
			if send(websocket.PingMessage, nil) != nil {
				stop("")
			}
		}
	}
}

type chanMutex chan struct{}

// closeFrame is a normal close, or with a reason a takeover close carrying
// it (cut to the 123 bytes a close frame has room for).
func closeFrame(reason string) []byte {
	if reason == "" {
		return websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	}
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	return websocket.FormatCloseMessage(closeTakenOver, reason)
}

// launcherPod finds the running launcher pod of a machine, or says why
// there is none (with the HTTP status to answer).
func (s *Server) launcherPod(ctx context.Context, ns, name string) (*corev1.Pod, int, string) {
	vm := &v1alpha2.VirtualMachine{}
	if err := s.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, http.StatusNotFound, fmt.Sprintf("VirtualMachine %s/%s not found", ns, name)
		}
		return nil, http.StatusInternalServerError, err.Error()
	}
	podName := ""
	for _, p := range vm.Status.VirtualMachinePods {
		if p.Active {
			podName = p.Name
		}
	}
	if podName == "" {
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("VirtualMachine %s/%s is not running (phase %s)", ns, name, vm.Status.Phase)
	}
	pod := &corev1.Pod{}
	if err := s.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: podName}, pod); err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("launcher pod %s: %v", podName, err)
	}
	if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName == "" {
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("VirtualMachine %s/%s is not running yet (launcher pod %s is %s)", ns, name, pod.Name, pod.Status.Phase)
	}
	return pod, 0, ""
}

// dialStream opens the node API stream to one of the pod's sockets.
func (s *Server) dialStream(ctx context.Context, pod *corev1.Pod, socket string) (net.Conn, error) {
	node := &corev1.Node{}
	if err := s.o.Reader.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil {
		return nil, fmt.Errorf("node %s: %w", pod.Spec.NodeName, err)
	}
	addr := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			addr = a.Address
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("node %s has no internal address", node.Name)
	}
	hostPort := net.JoinHostPort(addr, strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)))
	d := &tls.Dialer{Config: s.o.NodeTLS.Clone(), NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	d.Config.ServerName = addr
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/dvp/stream/%s/%s/%s/%s", pod.Namespace, pod.Name, launcherContainer, socket)
	req := "GET " + path + " HTTP/1.1\r\nHost: " + hostPort + "\r\nConnection: Upgrade\r\nUpgrade: dvp-stream\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		conn.Close()
		return nil, fmt.Errorf("node %s: %s: %s", node.Name, resp.Status, string(b))
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, nil
}

// bufferedConn reads first what the response reader already buffered.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
