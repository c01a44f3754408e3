{{/* The chart name, or nameOverride: app.kubernetes.io/name. */}}
{{- define "milvus-admission.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name. */}}
{{- define "milvus-admission.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "milvus-admission.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Helm's standard labels, on every object's metadata (not on selectors or
the pod template, so that they never change what selects what). */}}
{{- define "milvus-admission.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The labels the kustomize base puts on every object. */}}
{{- define "milvus-admission.partOf" -}}
app.kubernetes.io/part-of: milvus-admission
{{- end -}}

{{/* What selects the webhook's pods. */}}
{{- define "milvus-admission.selectorLabels" -}}
app.kubernetes.io/component: webhook
app.kubernetes.io/name: {{ include "milvus-admission.name" . }}
{{- end -}}

{{/* Labels of the objects of the webhook itself. */}}
{{- define "milvus-admission.labels" -}}
{{ include "milvus-admission.selectorLabels" . }}
{{ include "milvus-admission.partOf" . }}
{{ include "milvus-admission.helmLabels" . }}
{{- end -}}

{{/* Labels of the other objects (ConfigMap, cert-manager, webhook
configurations), like the kustomize base's. */}}
{{- define "milvus-admission.commonLabels" -}}
{{ include "milvus-admission.partOf" . }}
{{ include "milvus-admission.helmLabels" . }}
{{- end -}}

{{/* Argo CD sync wave: .wave. */}}
{{- define "milvus-admission.wave" -}}
argocd.argoproj.io/sync-wave: {{ . | quote }}
{{- end -}}

{{- define "milvus-admission.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "milvus-admission.serviceName" -}}
{{- printf "%s-webhook" (include "milvus-admission.fullname" .) -}}
{{- end -}}

{{/* The Service of the HTTPS metrics endpoint (metrics.service.enabled). */}}
{{- define "milvus-admission.metricsServiceName" -}}
{{- printf "%s-metrics" (include "milvus-admission.fullname" .) -}}
{{- end -}}

{{- define "milvus-admission.servingCertificate" -}}
{{- printf "%s-serving" (include "milvus-admission.fullname" .) -}}
{{- end -}}

{{/* The Secret the webhook serves. */}}
{{- define "milvus-admission.tlsSecret" -}}
{{- if .Values.certManager.enabled -}}
{{- default (printf "%s-serving-cert" (include "milvus-admission.fullname" .)) .Values.tls.secretName -}}
{{- else -}}
{{- required "tls.secretName is required when certManager.enabled is false" .Values.tls.secretName -}}
{{- end -}}
{{- end -}}

{{/* excludedNamespaces plus the release namespace, without repeats, as a
JSON list. */}}
{{- define "milvus-admission.excludedNamespaces" -}}
{{- append .Values.excludedNamespaces .Release.Namespace | uniq | toJson -}}
{{- end -}}

{{/* The policy ConfigMap's name: <fullname>-policy-<hash>, the hash computed
as kustomize's configMapGenerator computes it: sha256 of the JSON of kind,
name and data, the first 10 hex digits with 0 1 3 a e mapped to g h k m t.
(kustomize v5 hashes an empty name: its lookup of "metadata/name" finds
nothing.) So a policy change renames the ConfigMap and rolls the pods, as
with the kustomize base, and the default name is the base's. */}}
{{- define "milvus-admission.policyConfigMap" -}}
{{- $name := printf "%s-policy" (include "milvus-admission.fullname" .) -}}
{{- $hash := dict "kind" "ConfigMap" "name" "" "data" (dict "policy.yaml" .Values.policy) | toJson | sha256sum | trunc 10 -}}
{{- printf "%s-%s" $name ($hash | replace "0" "g" | replace "1" "h" | replace "3" "k" | replace "a" "m" | replace "e" "t") -}}
{{- end -}}

{{/* The webhooks' namespaceSelector. */}}
{{- define "milvus-admission.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "milvus-admission.excludedNamespaces" . }}
    # Break glass for one namespace: label it milvus-admission.io/exempt=true.
    - key: milvus-admission.io/exempt
      operator: NotIn
      values: ["true"]
{{- end -}}

{{/* The webhooks' clientConfig: .root, .path. */}}
{{- define "milvus-admission.clientConfig" -}}
clientConfig:
  service:
    name: {{ include "milvus-admission.serviceName" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- if not .root.Values.certManager.enabled }}
  caBundle: {{ required "tls.caBundle is required when certManager.enabled is false" .root.Values.tls.caBundle }}
  {{- end }}
{{- end -}}

{{/* The annotations of both webhook configurations. */}}
{{- define "milvus-admission.webhookAnnotations" -}}
{{ if .Values.certManager.enabled -}}
cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "milvus-admission.servingCertificate" . }}
{{ end -}}
{{ include "milvus-admission.wave" "1" }}
{{- end -}}

{{/* The Milvus fields the rules read changed, or the generation intent is
(or was) there. Both Milvus webhooks' matchConditions end with this. */}}
{{- define "milvus-admission.milvusChanged" -}}
object.?spec.?mode.orValue('') != oldObject.?spec.?mode.orValue('') ||
object.?spec.?dependencies.?msgStreamType.orValue('') != oldObject.?spec.?dependencies.?msgStreamType.orValue('') ||
object.?spec.?components.?image.orValue('') != oldObject.?spec.?components.?image.orValue('') ||
object.?spec.?components.?version.orValue('') != oldObject.?spec.?components.?version.orValue('') ||
object.?spec.?components.?imageUpdateMode.orValue('') != oldObject.?spec.?components.?imageUpdateMode.orValue('') ||
object.?spec.?components.?enableRollingUpdate.orValue(false) != oldObject.?spec.?components.?enableRollingUpdate.orValue(false) ||
object.?spec.?components.?mixCoord.hasValue() != oldObject.?spec.?components.?mixCoord.hasValue() ||
{{- range list "proxy" "queryNode" "dataNode" "indexNode" "streamingNode" "mixCoord" "rootCoord" "dataCoord" "queryCoord" "indexCoord" "standalone" "cdc" }}
object.?spec.?components.?{{ . }}.?image.orValue('') != oldObject.?spec.?components.?{{ . }}.?image.orValue('') ||
object.?spec.?components.?{{ . }}.?version.orValue('') != oldObject.?spec.?components.?{{ . }}.?version.orValue('') ||
{{- end }}
object.metadata.?annotations.orValue({}).exists(k, k.startsWith('milvus-admission.io/')) ||
oldObject.metadata.?annotations.orValue({}).exists(k, k.startsWith('milvus-admission.io/'))
{{- end -}}
