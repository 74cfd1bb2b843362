package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestConsoleEnd: how the server's close frame ends `d8 v console`. A
// takeover (a close with a reason) fails with that reason; a normal close
// succeeds.
func TestConsoleEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		code    int
		text    string
		wantErr string
	}{
		{"normal", websocket.CloseNormalClosure, "", ""},
		{"going away", websocket.CloseGoingAway, "", ""},
		{"taken over", 4001, "the console was taken over by alice", "the console was taken over by alice"},
		{"abnormal", websocket.CloseInternalServerErr, "", "console connection lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				_ = ws.WriteMessage(websocket.BinaryMessage, []byte("login: "))
				_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(tc.code, tc.text))
				_, _, _ = ws.ReadMessage() // the client's close
			}))
			defer srv.Close()
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			in, w := io.Pipe() // input that never ends on its own
			defer w.Close()
			var out strings.Builder
			err = runConsole(ws, in, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
			if out.String() != "login: " {
				t.Errorf("output %q", out.String())
			}
		})
	}
}
