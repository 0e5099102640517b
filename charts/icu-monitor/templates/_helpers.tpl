{{/* Names and labels shared by every template. */}}

{{- define "icu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name by default, so `helm install icu` gives pods icu-patients-N. */}}
{{- define "icu.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "icu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "icu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "icu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "icu.labels" -}}
helm.sh/chart: {{ include "icu.chart" . }}
{{ include "icu.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: icu-monitor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component: (dict "ctx" $ "component" "patients") */}}
{{- define "icu.componentLabels" -}}
{{ include "icu.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "icu.componentSelector" -}}
{{ include "icu.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* image reference: (dict "image" .Values.image "default" .Chart.AppVersion) */}}
{{- define "icu.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .default .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "icu.image" -}}
{{- include "icu.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) -}}
{{- end -}}

{{/* Pod-level hardening (Pod Security "restricted"). */}}
{{- define "icu.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level hardening (Pod Security "restricted"). */}}
{{- define "icu.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "icu.postgresqlHost" -}}
{{- printf "%s-postgresql" (include "icu.fullname" .) -}}
{{- end -}}

{{/* The Secret and key holding the services' DATABASE_URL. */}}
{{- define "icu.databaseSecretName" -}}
{{- if .Values.postgresql.external.enabled -}}
{{- default (printf "%s-database" (include "icu.fullname" .)) .Values.postgresql.external.existingSecret -}}
{{- else -}}
{{- default (printf "%s-postgresql" (include "icu.fullname" .)) .Values.postgresql.auth.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "icu.databaseSecretKey" -}}
{{- if .Values.postgresql.external.enabled -}}
{{- if .Values.postgresql.external.existingSecret -}}{{ .Values.postgresql.external.existingSecretKey }}{{- else -}}database-url{{- end -}}
{{- else -}}
{{- .Values.postgresql.auth.secretKeys.databaseUrl -}}
{{- end -}}
{{- end -}}

{{- define "icu.kafkaBootstrap" -}}
{{- if .Values.kafka.external.enabled -}}
{{- required "kafka.external.bootstrapServers is required when kafka.external.enabled" .Values.kafka.external.bootstrapServers -}}
{{- else -}}
{{- default (printf "%s-kafka-bootstrap:9092" .Values.kafka.strimzi.clusterName) .Values.kafka.strimzi.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{/* The env every service shares: its pod's identity and OpenTelemetry. (dict "ctx" $ "service" "data-service") */}}
{{- define "icu.commonEnv" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- $attrs := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" (printf "service.version=%s" .ctx.Chart.AppVersion) }}
{{- range $k, $v := .ctx.Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with .ctx.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $.ctx.Values.otel.protocol | quote }}
{{- end }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .ctx.Values.otel.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .ctx.Values.otel.samplerArg | quote }}
{{- end -}}

{{/* HTTP probes on the services' /healthz and /readyz. */}}
{{- define "icu.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
{{- end -}}

{{- define "icu.topologySpread" -}}
{{- if .ctx.Values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ .ctx.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ .ctx.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "icu.componentSelector" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* The auth settings must be complete before anything is rendered. */}}
{{- define "icu.validate" -}}
{{- if and (eq .Values.monitor.auth.mode "jwt") (not (and .Values.monitor.auth.issuer .Values.monitor.auth.jwksUrl .Values.monitor.auth.audience)) -}}
{{- fail "monitor.auth.mode is jwt (the default): set monitor.auth.issuer, monitor.auth.jwksUrl and monitor.auth.audience (your OpenID provider's issuer URL, its JWKS URL, and this API's audience), or monitor.auth.mode=none for a cluster where the ward may be open" -}}
{{- end -}}
{{- if and .Values.postgresql.external.enabled (not (or .Values.postgresql.external.url .Values.postgresql.external.existingSecret)) -}}
{{- fail "postgresql.external.enabled needs postgresql.external.url or postgresql.external.existingSecret" -}}
{{- end -}}
{{- end -}}
