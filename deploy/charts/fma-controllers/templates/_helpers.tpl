{{/* Names and labels shared by the fma-controllers templates. */}}

{{/* The controllers' ServiceAccount; CONTRACTS.md A6 fixes it as <release>-fma-controllers. */}}
{{- define "fma.serviceAccount" -}}
{{ .Release.Name }}-fma-controllers
{{- end }}

{{/* The username the API server gives that ServiceAccount (exempt from the policies). */}}
{{- define "fma.serviceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "fma.serviceAccount" . }}
{{- end }}

{{- define "fma.labels" -}}
app.kubernetes.io/name: fma-controllers
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Selector labels of one component: pass (dict "root" $ "component" "...") */}}
{{- define "fma.selectorLabels" -}}
app.kubernetes.io/name: fma-controllers
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "fma.image" -}}
{{- $tag := .Values.global.imageTag | default .Chart.AppVersion -}}
{{ .Values.global.imageRegistry | trimSuffix "/" }}/{{ .Values.controllersImage.name }}:{{ $tag }}
{{- end }}

{{/* Pull policy of the dual-pods controller: FMA's `local` means Never. */}}
{{- define "fma.controllerPullPolicy" -}}
{{- if .Values.global.local -}}
Never
{{- else -}}
{{ .Values.controllersImage.pullPolicy | default "IfNotPresent" }}
{{- end -}}
{{- end }}

{{- define "fma.populatorPullPolicy" -}}
{{- if .Values.global.local -}}
Never
{{- else -}}
{{ .Values.launcherPopulator.pullPolicy | default "IfNotPresent" }}
{{- end -}}
{{- end }}

{{- define "fma.debugSocketAddress" -}}
ipc://{{ .Values.debugSocket.directory | trimSuffix "/" }}/{{ .Values.debugSocket.fileName }}
{{- end }}

{{/* Arguments every controller process takes, after the subcommand. */}}
{{- define "fma.commonArgs" -}}
- --namespace={{ .Release.Namespace }}
- --metrics-port={{ .Values.metrics.port }}
{{- if .Values.debugSocket.enabled }}
- --debug-socket={{ include "fma.debugSocketAddress" . }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
- --leader-elect
{{- end }}
{{- end }}

{{/* Pod-level fields both Deployments share. */}}
{{- define "fma.podCommon" -}}
serviceAccountName: {{ include "fma.serviceAccount" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
{{- if .Values.debugSocket.enabled }}
  - name: debug-socket
    emptyDir: {}
{{- end }}
{{- end }}

{{/* Container-level fields both Deployments share (env, ports, mounts, security). */}}
{{- define "fma.containerCommon" -}}
env:
  - name: POD_NAME
    valueFrom:
      fieldRef: {fieldPath: metadata.name}
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef: {fieldPath: metadata.namespace}
  - name: HOME
    value: /tmp
ports:
  - name: metrics
    containerPort: {{ .Values.metrics.port }}
    protocol: TCP
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- if .Values.debugSocket.enabled }}
  - name: debug-socket
    mountPath: {{ .Values.debugSocket.directory }}
{{- end }}
{{- end }}
