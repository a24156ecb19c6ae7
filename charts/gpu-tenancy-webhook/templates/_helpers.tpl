{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{/* Names, labels and values derived once and used by every template of the chart. */}}

{{/* The chart's name, overridable with nameOverride. */}}
{{- define "gtw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base name of every object: fullnameOverride, else the release name when it already contains
the chart's name (so `helm install gpu-tenancy-webhook` names the Service gpu-tenancy-webhook),
else release-chart. Kept to 52 characters so that suffixed names stay valid DNS labels.
*/}}
{{- define "gtw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "gtw.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gtw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the webhook's pods. They never change after install. */}}
{{- define "gtw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gtw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels on every object of the release. */}}
{{- define "gtw.labels" -}}
helm.sh/chart: {{ include "gtw.chart" . }}
{{ include "gtw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gpu-tenancy-webhook
{{- end -}}

{{- define "gtw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gtw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding tls.crt and tls.key, whichever TLS choice made it. */}}
{{- define "gtw.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- .Values.tls.secret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "gtw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the chart-generated CA (tls.mode generated). */}}
{{- define "gtw.caSecretName" -}}
{{- printf "%s-ca" (include "gtw.fullname" .) -}}
{{- end -}}

{{/* The Service's DNS name that the kube-apiserver uses as TLS server name. */}}
{{- define "gtw.serviceHost" -}}
{{- printf "%s.%s.svc" (include "gtw.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
The serving certificate's commonName: the Service's DNS name, or the Service's name alone when
that is longer than the 64 characters RFC 5280 allows. The SANs carry the names that matter.
*/}}
{{- define "gtw.commonName" -}}
{{- $host := include "gtw.serviceHost" . -}}
{{- if gt (len $host) 64 -}}
{{- include "gtw.fullname" . -}}
{{- else -}}
{{- $host -}}
{{- end -}}
{{- end -}}

{{/* The Service's DNS names, as the serving certificate's SANs. */}}
{{- define "gtw.serviceDNSNames" -}}
{{- $svc := include "gtw.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end -}}

{{/*
The namespaces the webhooks never see, as a JSON list: the release's own (so a broken webhook
cannot block its own recovery) and the policy's exemptNamespaces, whose default is the same as
the server's when the policy does not set it.
*/}}
{{- define "gtw.skippedNamespaces" -}}
{{- $exempt := list "gpu-operator" "kube-system" -}}
{{- $settings := .Values.policy.settings | default dict -}}
{{- if hasKey $settings "exemptNamespaces" -}}
{{- $exempt = $settings.exemptNamespaces | default list -}}
{{- end -}}
{{- concat (list .Release.Namespace) $exempt | uniq | toJson -}}
{{- end -}}

{{/* The container image, with the chart's appVersion as the default tag. */}}
{{- define "gtw.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
