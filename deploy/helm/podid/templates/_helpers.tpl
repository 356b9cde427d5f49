{{- define "podid.name" -}}podid{{- end -}}

{{- define "podid.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "podid.labels" -}}
app.kubernetes.io/part-of: podid
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "podid.serverURL" -}}
{{- if .Values.server.enabled -}}
http://podid-server.{{ .Release.Namespace }}.svc:{{ .Values.server.port }}
{{- else -}}
{{ required "server.url is required when server.enabled is false" .Values.server.url }}
{{- end -}}
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
