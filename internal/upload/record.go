package upload

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/internal/image"
)

// record writes the outcome into the Secret.
func (g *Gateway) record(sec *corev1.Secret, res image.Result, uerr error) error {
	return g.update(sec, func(data map[string][]byte) {
		if uerr != nil {
			data[KeyState] = []byte(StateFailed)
			data[KeyReason] = []byte(image.Reason(uerr))
			data[KeyError] = []byte(uerr.Error())
		} else {
			b, _ := json.Marshal(res)
			data[KeyState] = []byte(StateSucceeded)
			data[KeyResult] = b
		}
	})
}

// recordInterrupted puts the Secret back to Waiting, so the same token takes
// a new upload, and notes why and when: the wait for the upload starts over
// from then.
func (g *Gateway) recordInterrupted(sec *corev1.Secret, note string) error {
	return g.update(sec, func(data map[string][]byte) { MarkInterrupted(data, note, time.Now()) })
}

// update changes the Secret's data with change; it retries on conflicts
// and outlives the request.
func (g *Gateway) update(sec *corev1.Secret, change func(data map[string][]byte)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := client.ObjectKeyFromObject(sec)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &corev1.Secret{}
		if err := g.Reader.Get(ctx, key, cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cur.Data == nil {
			cur.Data = map[string][]byte{}
		}
		change(cur.Data)
		return g.Writer.Update(ctx, cur)
	})
}
