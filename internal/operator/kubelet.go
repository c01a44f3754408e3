package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// The operator's names (pkg/controllers/milvusupgrade_fsm.go): the labels of
// its task Pods, their kinds, and the annotation that times the stop.
const (
	LabelUpgrade        = "milvus.io/upgrade"
	LabelTaskKind       = "milvus.io/task-kind"
	TaskBackupMeta      = "backup-meta"
	TaskUpdateMeta      = "update-meta"
	TaskRollbackMeta    = "rollback-meta"
	StoppedAtAnnotation = "milvus.io/stopped-at"
)

// deregistrationWait is how long the operator waits after stopping a Milvus
// for its components to leave etcd (isComponentsDeregistered).
const deregistrationWait = time.Minute

var milvusResource = schema.GroupVersionResource{Group: "milvus.io", Version: "v1beta1", Resource: "milvuses"}

// Kubelet plays, as admin, what the operator's MilvusUpgrade state machine
// needs from a real cluster and a bare API server does not do:
//
//   - the ServiceAccount controller: every namespace gets its `default`
//     ServiceAccount, without which the API server refuses Pods;
//   - the kubelet: the operator's task Pods (<upgrade>-backup-meta,
//     -update-meta, -rollback-meta) run the migration tool; here each is
//     marked Succeeded through the status subresource, or Failed when a test
//     asked for it (Fail);
//   - time: the operator stamps milvus.io/stopped-at on a stopped Milvus and
//     waits one minute for its components to deregister. Nothing runs here
//     to deregister, so the Kubelet back-dates the stamp by two minutes when
//     it appears, and the operator goes on at its next requeue (30 s).
//
// Everything it does is logged per namespace (Actions).
type Kubelet struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
	log     logger

	mu    sync.Mutex
	fail  map[string]bool     // namespace/pod → mark it Failed
	tasks map[string][]string // namespace/upgrade/task kind → UIDs of the Pods seen
}

// StartKubelet starts a Kubelet as the admin of cfg until ctx ends; out, if
// not nil, receives its log.
func StartKubelet(ctx context.Context, cfg *rest.Config, out io.Writer) (*Kubelet, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	k := &Kubelet{client: cs, dynamic: dyn, log: logger{w: out}, fail: map[string]bool{}, tasks: map[string][]string{}}

	core := informers.NewSharedInformerFactory(cs, 0)
	nsInformer := core.Core().V1().Namespaces().Informer()
	if _, err := nsInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { k.ensureDefaultServiceAccount(ctx, obj.(*corev1.Namespace)) },
	}); err != nil {
		return nil, err
	}
	tasks := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = LabelTaskKind
	}))
	podInformer := tasks.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.runTask(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.runTask(ctx, obj.(*corev1.Pod)) },
	}); err != nil {
		return nil, err
	}
	milvuses := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	milvusInformer := milvuses.ForResource(milvusResource).Informer()
	if _, err := milvusInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.backDateStop(ctx, obj.(*unstructured.Unstructured)) },
		UpdateFunc: func(_, obj any) { k.backDateStop(ctx, obj.(*unstructured.Unstructured)) },
	}); err != nil {
		return nil, err
	}
	core.Start(ctx.Done())
	tasks.Start(ctx.Done())
	milvuses.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), nsInformer.HasSynced, podInformer.HasSynced, milvusInformer.HasSynced) {
		return nil, fmt.Errorf("the kubelet's informers did not sync within 30s")
	}
	return k, nil
}

// Fail makes the Kubelet mark the Pod namespace/name Failed instead of
// Succeeded, e.g. "<upgrade>-update-meta" to fail the metadata migration.
// Call it before the operator creates the Pod.
func (k *Kubelet) Fail(namespace, pod string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail[namespace+"/"+pod] = true
}

// TaskPods is how many distinct Pods (by UID) of the task kind the operator
// has created for the MilvusUpgrade namespace/upgrade so far; a retry that
// deletes and recreates a Pod of the same name counts twice.
func (k *Kubelet) TaskPods(namespace, upgrade, kind string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.tasks[namespace+"/"+upgrade+"/"+kind])
}

// Actions is what the Kubelet did in namespace, in order.
func (k *Kubelet) Actions(namespace string) []Action { return k.log.actions(namespace) }

func (k *Kubelet) ensureDefaultServiceAccount(ctx context.Context, ns *corev1.Namespace) {
	if ns.Status.Phase == corev1.NamespaceTerminating {
		return
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	_, err := k.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
		k.log.logf(ns.Name, "creating the default ServiceAccount in %s: %v", ns.Name, err)
	}
}

// runTask "runs" a task Pod: it ends it Succeeded, or Failed if asked.
func (k *Kubelet) runTask(ctx context.Context, pod *corev1.Pod) {
	kind := pod.Labels[LabelTaskKind]
	key := pod.Namespace + "/" + pod.Labels[LabelUpgrade] + "/" + kind
	k.mu.Lock()
	seen := slices.Contains(k.tasks[key], string(pod.UID))
	if !seen {
		k.tasks[key] = append(k.tasks[key], string(pod.UID))
	}
	phase := corev1.PodSucceeded
	if k.fail[pod.Namespace+"/"+pod.Name] {
		phase = corev1.PodFailed
	}
	k.mu.Unlock()
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	if !seen {
		image := ""
		if len(pod.Spec.Containers) > 0 {
			image = pod.Spec.Containers[0].Image
		}
		k.log.logf(pod.Namespace, "the operator created Pod %s (task %s, image %s)", pod.Name, kind, image)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := k.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID || cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed {
			return nil
		}
		exitCode := int32(0)
		if phase == corev1.PodFailed {
			exitCode = 1
		}
		now := metav1.Now()
		cur.Status.Phase = phase
		cur.Status.StartTime = &now
		cur.Status.ContainerStatuses = nil
		for _, c := range cur.Spec.Containers {
			cur.Status.ContainerStatuses = append(cur.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: exitCode, Reason: map[bool]string{true: "Completed", false: "Error"}[exitCode == 0],
					StartedAt: now, FinishedAt: now,
				}},
			})
		}
		_, err = k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	switch {
	case err == nil:
		k.log.logf(pod.Namespace, "Pod %s → %s", pod.Name, phase)
	case ctx.Err() == nil && !apierrors.IsNotFound(err):
		k.log.logf(pod.Namespace, "setting Pod %s to %s: %v", pod.Name, phase, err)
	}
}

// backDateStop back-dates a fresh milvus.io/stopped-at (see Kubelet).
func (k *Kubelet) backDateStop(ctx context.Context, m *unstructured.Unstructured) {
	stamp, ok := m.GetAnnotations()[StoppedAtAnnotation]
	if !ok || m.GetDeletionTimestamp() != nil {
		return
	}
	at, err := time.Parse(time.RFC3339, stamp)
	if err != nil || time.Since(at) > deregistrationWait {
		return
	}
	earlier := at.Add(-2 * deregistrationWait).UTC().Format(time.RFC3339)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": m.GetResourceVersion(), // only over the stamp we read
		"annotations":     map[string]string{StoppedAtAnnotation: earlier},
	}})
	_, err = k.dynamic.Resource(milvusResource).Namespace(m.GetNamespace()).Patch(ctx, m.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
	switch {
	case err == nil:
		k.log.logf(m.GetNamespace(), "back-dated %s of Milvus %s from %s to %s: skips the operator's one-minute wait for stopped components to deregister (none run here)",
			StoppedAtAnnotation, m.GetName(), stamp, earlier)
	case apierrors.IsConflict(err), apierrors.IsNotFound(err), ctx.Err() != nil:
		// A newer version follows (and is handled), or it is gone.
	default:
		k.log.logf(m.GetNamespace(), "back-dating %s of Milvus %s: %v", StoppedAtAnnotation, m.GetName(), strings.TrimSpace(err.Error()))
	}
}
