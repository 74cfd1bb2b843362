package importjob

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/virtlab/dvp/api/v1alpha2"
	ctrlreconcile "github.com/virtlab/dvp/internal/controller/reconcile"
)

// ImageStatus points at the status fields VirtualImage and
// ClusterVirtualImage share, so one function fills both.
type ImageStatus struct {
	Phase         *string
	Progress      *string
	DownloadSpeed **v1alpha2.StatusSpeed
	Size          *v1alpha2.ImageStatusSize
	Format        *string
	CDROM         *bool
	RegistryURL   *string
	// Digest is status.target.digest: the manifest every reader pulls.
	Digest     *string
	Conditions *[]metav1.Condition
	Generation int64
}

// Condition types and reasons shared by both kinds (same strings upstream).
const (
	condReady      = "Ready"
	condDatasource = "DatasourceReady"
)

// SetDatasource records whether the data source can be read.
func (s ImageStatus) SetDatasource(ok bool, reason, msg string) {
	ctrlreconcile.SetCondition(s.Conditions, s.Generation, condDatasource, ok, reason, msg)
}

// SetReady records the Ready condition.
func (s ImageStatus) SetReady(ok bool, reason, msg string) {
	ctrlreconcile.SetCondition(s.Conditions, s.Generation, condReady, ok, reason, msg)
}

// Apply maps a job outcome onto the status. registryURL is what the image is
// called in DVCR once Ready. It returns a one-line event for a failure ("" if
// none).
func (s ImageStatus) Apply(out Outcome, registryURL string) (failure string) {
	switch out.Phase {
	case NotStarted, Pending:
		*s.Phase = "Provisioning"
		if *s.Progress == "" {
			*s.Progress = "0%"
		}
		s.SetReady(false, "ProvisioningNotStarted", "The importer pod is starting.")
	case Running:
		*s.Phase = "Provisioning"
		// Progress only grows: an importer that restarts from the start
		// must not make the column jump back.
		if out.Progress >= 0 && out.Progress > parsePercent(*s.Progress) {
			*s.Progress = FormatProgress(min(out.Progress, 99.9))
		}
		if out.Speed > 0 {
			*s.DownloadSpeed = &v1alpha2.StatusSpeed{
				Current: HumanBytes(out.Speed) + "/s", CurrentBytes: strconv.FormatInt(out.Speed, 10),
				Avg: HumanBytes(out.Speed) + "/s", AvgBytes: strconv.FormatInt(out.Speed, 10),
			}
		}
		s.SetReady(false, "Provisioning", "Importing into DVCR.")
	case Succeeded:
		r := out.Result
		*s.Phase, *s.Progress, *s.DownloadSpeed = "Ready", "100%", nil
		*s.Size = v1alpha2.ImageStatusSize{
			Stored: HumanBytes(r.StoredBytes), StoredBytes: strconv.FormatInt(r.StoredBytes, 10),
			Unpacked: HumanBytes(r.UnpackedBytes), UnpackedBytes: strconv.FormatInt(r.UnpackedBytes, 10),
		}
		*s.Format, *s.CDROM, *s.RegistryURL = r.Format, r.CDROM, registryURL
		if s.Digest != nil {
			*s.Digest = r.Digest
		}
		s.SetDatasource(true, "DatasourceReady", "")
		s.SetReady(true, "Ready", "")
	case Failed:
		*s.Phase, *s.DownloadSpeed = "Failed", nil
		msg := failureMessage(out)
		s.SetReady(false, "ProvisioningFailed", msg)
		return msg
	}
	return ""
}

// failureMessage turns the importer's reason into something actionable.
func failureMessage(out Outcome) string {
	hint := map[string]string{
		"NotFound":          "the source answered 404/not found: check the URL or image reference",
		"DNS":               "the source host name does not resolve: check the URL",
		"Checksum":          "the downloaded data does not match the given checksum: check the checksum or the source",
		"UnsupportedFormat": "the data is not a supported disk image (qcow2, raw, vmdk, vdi, iso, optionally gz or xz)",
		"Corrupt":           "the disk image is damaged or truncated",
		"RegistryAuth":      "the registry refused the credentials: check imagePullSecret",
		"Network":           "the source could not be read after retries: check that it is reachable",
	}[out.Reason]
	msg := strings.TrimSpace(out.Message)
	if hint != "" {
		return fmt.Sprintf("%s: %s", hint, msg)
	}
	return msg
}

func parsePercent(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return -1
	}
	return f
}
