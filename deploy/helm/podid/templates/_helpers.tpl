{{/* The chart's name (nameOverride). */}}
{{- define "podid.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-scoped base name of every object (fullnameOverride): the
release name when it contains the chart's name ("podid" gives podid-server),
else RELEASE-podid. */}}
{{- define "podid.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "podid.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* NAME-COMPONENT, e.g. podid-server. Call with (list $ "server"). */}}
{{- define "podid.component" -}}
{{- printf "%s-%s" (include "podid.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podid.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* Labels on every object (no app.kubernetes.io/name: each component
adds its selector labels). */}}
{{- define "podid.labels" -}}
app.kubernetes.io/part-of: podid
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of a component. Call with (list $ "server"). */}}
{{- define "podid.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podid.name" (index . 0) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "podid.serverURL" -}}
{{- if .Values.server.enabled -}}
http://{{ include "podid.component" (list . "server") }}.{{ .Release.Namespace }}.svc:{{ .Values.server.port }}
{{- else -}}
{{ required "server.url is required when server.enabled is false" .Values.server.url }}
{{- end -}}
{{- end -}}

{{/* The Secret with the master key and the one with the root key:
existingSecret when given, else the chart's. */}}
{{- define "podid.masterKeySecret" -}}
{{- default (include "podid.component" (list . "master-key")) .Values.server.masterKey.existingSecret -}}
{{- end -}}
{{- define "podid.rootCredentialsSecret" -}}
{{- default (include "podid.component" (list . "root-credentials")) .Values.server.rootCredentials.existingSecret -}}
{{- end -}}

{{/* Pod-level settings shared by every component: image pull secrets,
node selection, affinity, tolerations, spreading. Call with (list $ .Values.COMPONENT). */}}
{{- define "podid.podPlacement" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- with $.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Spreading of a component's replicas over nodes and zones (its
topologySpreadConstraints, else one per node and zone where possible).
Call with (list $ .Values.COMPONENT "component"). */}}
{{- define "podid.spread" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- $name := index . 2 -}}
{{- if $c.topologySpreadConstraints }}
topologySpreadConstraints: {{- toYaml $c.topologySpreadConstraints | nindent 2 }}
{{- else }}
topologySpreadConstraints:
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels: {{- include "podid.selectorLabels" (list $ $name) | nindent 6 }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "podid.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* A PodDisruptionBudget. Call with (list $ .Values.COMPONENT "component"). */}}
{{- define "podid.pdb" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- $name := index . 2 -}}
{{- if $c.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "podid.component" (list $ $name) }}
  namespace: {{ $.Release.Namespace }}
  labels: {{- include "podid.labels" $ | nindent 4 }}
spec:
  {{- if $c.podDisruptionBudget.minAvailable }}
  minAvailable: {{ $c.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $c.podDisruptionBudget.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels: {{- include "podid.selectorLabels" (list $ $name) | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A ServiceMonitor for one component's Service port. Call with
(dict "root" $ "component" "server" "port" "api" "extra" dict). */}}
{{- define "podid.serviceMonitor" -}}
{{- $ := .root }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "podid.component" (list $ .component) }}
  namespace: {{ $.Release.Namespace }}
  labels: {{- include "podid.labels" $ | nindent 4 }}
    {{- with $.Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels: {{- include "podid.selectorLabels" (list $ .component) | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .namespace | default $.Release.Namespace }}]
  endpoints:
  - port: {{ .port }}
    path: /metrics
    interval: {{ $.Values.serviceMonitor.interval }}
    {{- with .extra }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* "true" when the store is PostgreSQL (database.url or database.existingSecret), else empty. */}}
{{- define "podid.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end -}}

{{/* PODID_DATABASE_URL from the chart's Secret or the one given. */}}
{{- define "podid.databaseEnv" -}}
- name: PODID_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.database.url }}
      name: {{ include "podid.component" (list . "database") }}
      key: url
      {{- else }}
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
      {{- end }}
{{- end -}}
