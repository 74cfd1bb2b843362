package virtualdisk

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/controller/importjob"
	"github.com/virtlab/dvp/internal/platform"
	"github.com/virtlab/dvp/internal/upload"
)

func TestStagedSource(t *testing.T) {
	for typ, want := range map[v1alpha2.DataSourceType]bool{
		v1alpha2.DataSourceTypeHTTP: true, v1alpha2.DataSourceTypeContainerImage: true, v1alpha2.DataSourceTypeUpload: true,
		v1alpha2.DataSourceTypeObjectRef: false,
	} {
		if got := stagedSource(&v1alpha2.VirtualDiskDataSource{Type: typ}); got != want {
			t.Errorf("stagedSource(%s) = %v", typ, got)
		}
	}
	if stagedSource(nil) {
		t.Error("a blank disk is not staged")
	}
}

func TestSourceHash(t *testing.T) {
	a := &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeHTTP, HTTP: &v1alpha2.DataSourceHTTP{URL: "http://x/a.img"}}
	b := a.DeepCopy()
	if sourceHash(a) != sourceHash(b) || len(sourceHash(a)) != 16 {
		t.Fatalf("hash of equal sources differs: %s %s", sourceHash(a), sourceHash(b))
	}
	b.HTTP.Checksum = &v1alpha2.Checksum{SHA256: strings.Repeat("a", 64)}
	if sourceHash(a) == sourceHash(b) {
		t.Error("a new checksum keeps the hash")
	}
	b = a.DeepCopy()
	b.HTTP.URL = "http://x/b.img"
	if sourceHash(a) == sourceHash(b) {
		t.Error("a new URL keeps the hash")
	}
}

func TestApplyStage(t *testing.T) {
	vd := &v1alpha2.VirtualDisk{}
	cond := func(typ string) *metav1.Condition { return meta.FindStatusCondition(vd.Status.Conditions, typ) }
	s := &stage{phase: stageRunning, progress: "40%", speed: &v1alpha2.StatusSpeed{Current: "1Mi/s"},
		conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Provisioning"}}}
	applyStage(vd, s)
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseProvisioning || vd.Status.Progress != "20%" || vd.Status.DownloadSpeed == nil {
		t.Errorf("running: %+v", vd.Status)
	}
	// Progress never goes back (an importer that restarted).
	s.progress = "10%"
	applyStage(vd, s)
	if vd.Status.Progress != "20%" {
		t.Errorf("progress went back to %s", vd.Status.Progress)
	}
	// Nearly done is still under half: half is for the data in DVCR.
	s.progress = "100%"
	applyStage(vd, s)
	if vd.Status.Progress != "50%" && vd.Status.Progress != "49.9%" {
		t.Errorf("stage at 100%%: %s", vd.Status.Progress)
	}
	// Done: half way, the disk's Ready condition untouched.
	s = &stage{phase: stageSucceeded, progress: "100%", conditions: []metav1.Condition{
		{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready"},
		{Type: "DatasourceReady", Status: metav1.ConditionTrue, Reason: "DatasourceReady"}}}
	applyStage(vd, s)
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseProvisioning || vd.Status.DownloadSpeed != nil || vd.Status.Progress != "50%" {
		t.Errorf("succeeded: %+v", vd.Status)
	}
	if c := cond("Ready"); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("the disk became Ready with its data only in DVCR: %+v", c)
	}
	if c := cond("DatasourceReady"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("DatasourceReady %+v", c)
	}
	for phase, want := range map[string]v1alpha2.VirtualDiskPhase{
		stageUpload: v1alpha2.VirtualDiskPhaseWaitForUserUpload, stageFailed: v1alpha2.VirtualDiskPhaseFailed, stagePending: v1alpha2.VirtualDiskPhasePending, "": v1alpha2.VirtualDiskPhasePending,
	} {
		vd := &v1alpha2.VirtualDisk{}
		applyStage(vd, &stage{phase: phase})
		if vd.Status.Phase != want {
			t.Errorf("stage %q: disk %q, want %q", phase, vd.Status.Phase, want)
		}
	}
}

// fakeRegistry records deleted repositories.
type fakeRegistry struct{ deleted []string }

func (f *fakeRegistry) DeleteRepository(_ context.Context, repo string) error {
	f.deleted = append(f.deleted, repo)
	return nil
}

type env struct {
	t   *testing.T
	c   client.Client
	r   *Reconciler
	reg *fakeRegistry
	rec *record.FakeRecorder
}

func newEnv(t *testing.T, vd *v1alpha2.VirtualDisk, objs ...client.Object) *env {
	immediate := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "x", VolumeBindingMode: &immediate}
	c := fake.NewClientBuilder().WithScheme(platform.Scheme()).
		WithStatusSubresource(&v1alpha2.VirtualDisk{}, &corev1.Pod{}, &corev1.PersistentVolumeClaim{}).
		WithObjects(append(objs, vd, sc)...).Build()
	reg := &fakeRegistry{}
	rec := record.NewFakeRecorder(100)
	jobs := &importjob.Env{Client: c, DVCRAddress: "dvcr.test:5443", DVCRHost: "dvcr.test", DVCRSecret: []byte("secret"), Registry: reg}
	return &env{t: t, c: c, reg: reg, rec: rec, r: &Reconciler{Client: c, Recorder: rec, Jobs: jobs}}
}

func httpDisk(size string) *v1alpha2.VirtualDisk {
	class := "fast"
	vd := &v1alpha2.VirtualDisk{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "root", UID: types.UID("uid-1"), Generation: 1},
		Spec: v1alpha2.VirtualDiskSpec{
			DataSource:            &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeHTTP, HTTP: &v1alpha2.DataSourceHTTP{URL: "http://example.com/a.img"}},
			PersistentVolumeClaim: v1alpha2.VirtualDiskPersistentVolumeClaim{StorageClassName: &class},
		},
	}
	if size != "" {
		q := resource.MustParse(size)
		vd.Spec.PersistentVolumeClaim.Size = &q
	}
	return vd
}

func (e *env) reconcile() ctrl.Result {
	e.t.Helper()
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "vms", Name: "root"}})
	if err != nil {
		e.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (e *env) disk() *v1alpha2.VirtualDisk {
	e.t.Helper()
	vd := &v1alpha2.VirtualDisk{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: "root"}, vd); err != nil {
		e.t.Fatal(err)
	}
	return vd
}

func (e *env) get(obj client.Object, name string) bool {
	e.t.Helper()
	err := e.c.Get(context.Background(), client.ObjectKey{Namespace: "vms", Name: name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return err == nil
}

// finish ends a worker pod with a termination message.
func (e *env) finish(name string, phase corev1.PodPhase, msg string) {
	e.t.Helper()
	pod := &corev1.Pod{}
	if !e.get(pod, name) {
		e.t.Fatalf("no pod %s", name)
	}
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "importer", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: msg}}}}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) events() string {
	var out []string
	for {
		select {
		case ev := <-e.rec.Events:
			out = append(out, ev)
		default:
			return strings.Join(out, "\n")
		}
	}
}

// The whole life of a disk from HTTP: import into DVCR, a claim of the
// unpacked size, the fill, the staged copy deleted, and nothing written
// twice.
func TestStagedDiskLifecycle(t *testing.T) {
	e := newEnv(t, httpDisk(""))
	ctx := context.Background()

	e.reconcile()
	vd := e.disk()
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseProvisioning || vd.Status.Target.PersistentVolumeClaim != "" {
		t.Fatalf("stage 1: %+v", vd.Status)
	}
	if !strings.Contains(strings.Join(vd.Finalizers, ","), importjob.Finalizer) {
		t.Errorf("finalizers %v", vd.Finalizers)
	}
	pod := &corev1.Pod{}
	if !e.get(pod, "vd-dvcr-importer-root") {
		t.Fatal("no stage-1 importer pod")
	}
	env := map[string]string{}
	for _, v := range pod.Spec.Containers[0].Env {
		env[v.Name] = v.Value
	}
	if env["IMPORTER_URL"] != "http://example.com/a.img" || env["IMPORTER_DEST"] != "dvcr.test:5443/vd/vms/root:uid-1" || env["IMPORTER_SOURCE"] != "http" {
		t.Errorf("importer env %v", env)
	}
	if pod.Annotations[sourceHashAnnotation] == "" {
		t.Error("the importer pod does not record its source")
	}
	// No DVCR credentials in the API: the pod names its scope and the node
	// runtime gives it credentials bound to it.
	if env["DVP_DVCR_SCOPE"] != "push:vd/vms/root" {
		t.Errorf("importer DVCR scope %q", env["DVP_DVCR_SCOPE"])
	}
	for _, v := range pod.Spec.Containers[0].Env {
		if strings.Contains(v.Name, "USERNAME") || strings.Contains(v.Name, "PASSWORD") || v.ValueFrom != nil {
			t.Errorf("importer env %s carries credentials", v.Name)
		}
	}
	sec := &corev1.Secret{}
	if e.get(sec, "vd-dvcr-importer-root-dvcr") {
		for k := range sec.Data {
			if k == "username" || k == "password" {
				t.Errorf("importer Secret holds %s", k)
			}
		}
	}
	if e.get(&corev1.PersistentVolumeClaim{}, ClaimName(vd)) {
		t.Fatal("a claim before the size is known")
	}

	e.finish("vd-dvcr-importer-root", corev1.PodSucceeded, `{"Format":"qcow2","StoredBytes":1000,"UnpackedBytes":67108864}`)
	e.reconcile()
	vd = e.disk()
	pvc := &corev1.PersistentVolumeClaim{}
	if !e.get(pvc, ClaimName(vd)) {
		t.Fatal("no claim after the import")
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "64Mi" {
		t.Errorf("claim of %s, want the unpacked 64Mi", q.String())
	}
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseProvisioning || vd.Status.Progress != "50%" || vd.Status.Target.PersistentVolumeClaim != pvc.Name {
		t.Errorf("after stage 1: %+v", vd.Status)
	}

	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}
	if err := e.c.Status().Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	fill := &corev1.Pod{}
	if !e.get(fill, "vd-importer-root") {
		t.Fatal("no fill pod")
	}
	for _, v := range fill.Spec.Containers[0].Env {
		if v.Name == "FILL_SOURCE" && v.Value != "dvcr.test:5443/vd/vms/root:uid-1" {
			t.Errorf("fill source %s", v.Value)
		}
	}
	if len(e.reg.deleted) != 0 {
		t.Fatal("staged copy deleted before the fill")
	}

	e.finish("vd-importer-root", corev1.PodSucceeded, `{}`)
	e.reconcile()
	vd = e.disk()
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseReady || vd.Status.Progress != "100%" || vd.Status.Capacity != "64Mi" {
		t.Errorf("after the fill: %+v", vd.Status)
	}
	if strings.Join(e.reg.deleted, ",") != "vd/vms/root" {
		t.Errorf("deleted repositories %v", e.reg.deleted)
	}
	if strings.Contains(strings.Join(vd.Finalizers, ","), importjob.Finalizer) {
		t.Errorf("DVCR finalizer left: %v", vd.Finalizers)
	}
	for _, name := range []string{"vd-dvcr-importer-root", "vd-importer-root"} {
		if e.get(&corev1.Pod{}, name) {
			t.Errorf("pod %s left", name)
		}
	}
	if e.get(pvc, ClaimName(vd)); pvc.Annotations[FilledAnnotation] != "uid-1" {
		t.Errorf("fill annotation %q", pvc.Annotations[FilledAnnotation])
	}

	// A restart: nothing imported or written again.
	e.reconcile()
	e.reconcile()
	if e.get(&corev1.Pod{}, "vd-dvcr-importer-root") || e.get(&corev1.Pod{}, "vd-importer-root") {
		t.Error("a Ready disk imported or filled again")
	}
	if vd = e.disk(); vd.Status.Phase != v1alpha2.VirtualDiskPhaseReady {
		t.Errorf("phase %s", vd.Status.Phase)
	}
}

func TestStagedDiskFailures(t *testing.T) {
	// An import failure: Failed with the image's message, one event, and
	// it stays so.
	e := newEnv(t, httpDisk(""))
	e.reconcile()
	e.finish("vd-dvcr-importer-root", corev1.PodFailed, `{"Error":"GET http://example.com/a.img: 404 Not Found","Reason":"NotFound"}`)
	e.reconcile()
	e.reconcile()
	vd := e.disk()
	c := meta.FindStatusCondition(vd.Status.Conditions, "Ready")
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseFailed || c == nil || !strings.Contains(c.Message, "404") || c.Reason != "ProvisioningFailed" {
		t.Fatalf("after a 404: %+v", vd.Status)
	}
	if ev := e.events(); strings.Count(ev, "ImportFailed") != 1 {
		t.Errorf("events:\n%s", ev)
	}

	// Too small: the image's message, no claim.
	e = newEnv(t, httpDisk("1Mi"))
	e.reconcile()
	e.finish("vd-dvcr-importer-root", corev1.PodSucceeded, `{"Format":"qcow2","StoredBytes":1000,"UnpackedBytes":67108864}`)
	e.reconcile()
	vd = e.disk()
	c = meta.FindStatusCondition(vd.Status.Conditions, "Ready")
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseFailed || c == nil || !strings.Contains(c.Message, "is smaller than the image (64Mi unpacked)") {
		t.Fatalf("too small: %+v", vd.Status)
	}
	if e.get(&corev1.PersistentVolumeClaim{}, ClaimName(vd)) {
		t.Error("a claim for a disk too small")
	}
	// Growing the size goes on from the import already done.
	q := resource.MustParse("128Mi")
	vd.Spec.PersistentVolumeClaim.Size = &q
	vd.Generation = 2
	if err := e.c.Update(context.Background(), vd); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	pvc := &corev1.PersistentVolumeClaim{}
	if !e.get(pvc, ClaimName(vd)) {
		t.Fatalf("no claim after growing the size: %+v", e.disk().Status)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "128Mi" {
		t.Errorf("claim of %s", q.String())
	}
}

// An edited data source restarts the import.
func TestStagedDiskSourceEdited(t *testing.T) {
	e := newEnv(t, httpDisk("1Gi"))
	e.reconcile()
	vd := e.disk()
	vd.Spec.DataSource.HTTP.URL = "http://example.com/b.img"
	if err := e.c.Update(context.Background(), vd); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	if e.get(&corev1.Pod{}, "vd-dvcr-importer-root") {
		t.Fatal("the import of the old URL goes on")
	}
	e.reconcile()
	pod := &corev1.Pod{}
	if !e.get(pod, "vd-dvcr-importer-root") {
		t.Fatal("no new import")
	}
	for _, v := range pod.Spec.Containers[0].Env {
		if v.Name == "IMPORTER_URL" && v.Value != "http://example.com/b.img" {
			t.Errorf("new import of %s", v.Value)
		}
	}
}

// fakeGateway is an upload gateway with nothing in progress.
type fakeGateway struct{ cancelled []types.UID }

func (g *fakeGateway) Active(types.UID) (int64, int64, time.Duration, bool) { return 0, 0, 0, false }
func (g *fakeGateway) Cancel(uid types.UID)                                 { g.cancelled = append(g.cancelled, uid) }
func (g *fakeGateway) Started() time.Time                                   { return time.Time{} }

func TestUploadDisk(t *testing.T) {
	vd := httpDisk("")
	vd.Spec.DataSource = &v1alpha2.VirtualDiskDataSource{Type: v1alpha2.DataSourceTypeUpload}
	e := newEnv(t, vd)
	gw := &fakeGateway{}
	e.r.Uploads = &importjob.Uploads{Gateway: gw, Wait: time.Hour, BaseURL: "https://10.0.0.1:5444", CAFile: "/ca.crt"}
	e.reconcile()
	vd = e.disk()
	if vd.Status.Phase != v1alpha2.VirtualDiskPhaseWaitForUserUpload || vd.Status.ImageUploadURLs == nil ||
		!strings.HasPrefix(vd.Status.UploadCommand, "curl --cacert /ca.crt https://10.0.0.1:5444/upload/") {
		t.Fatalf("waiting: %+v", vd.Status)
	}
	sec := &corev1.Secret{}
	if !e.get(sec, upload.SecretName("vd", "root")) || !metav1.IsControlledBy(sec, vd) {
		t.Fatal("no upload Secret owned by the disk")
	}
	// The gateway records a finished upload.
	sec.Data[upload.KeyState] = []byte(upload.StateSucceeded)
	sec.Data[upload.KeyResult] = []byte(`{"format":"raw","storedBytes":4194304,"unpackedBytes":4194304}`)
	if err := e.c.Update(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	vd = e.disk()
	pvc := &corev1.PersistentVolumeClaim{}
	if !e.get(pvc, ClaimName(vd)) {
		t.Fatalf("no claim after the upload: %+v", vd.Status)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "4Mi" {
		t.Errorf("claim of %s", q.String())
	}
	if ev := e.events(); !strings.Contains(ev, "Uploaded") || strings.Contains(ev, "Normal Ready") {
		t.Errorf("events:\n%s", ev)
	}
	// Deleting the disk midway removes the upload Secret and the staged copy.
	if err := e.c.Delete(context.Background(), vd); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	if e.get(&corev1.Secret{}, upload.SecretName("vd", "root")) {
		t.Error("upload Secret left")
	}
	if strings.Join(e.reg.deleted, ",") != "vd/vms/root" || len(gw.cancelled) == 0 {
		t.Errorf("deleted %v, cancelled %v", e.reg.deleted, gw.cancelled)
	}
}
