package agentinstall

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/yaml"
)

// Values are an add-on's configurationValues: the part of EKS's schema for
// eks-pod-identity-agent that applies to podid's agent DaemonSet, given as
// JSON or YAML, as EKS accepts them.
type Values struct {
	Agent *struct {
		// AdditionalArgs are extra agent flags, each rendered as the two
		// arguments KEY VALUE (as AWS's chart does).
		AdditionalArgs map[string]string `json:"additionalArgs,omitempty"`
	} `json:"agent,omitempty"`
	// Tolerations replace the default (tolerate every taint).
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Resources replace the default requests.
	Resources         *corev1.ResourceRequirements `json:"resources,omitempty"`
	Affinity          *corev1.Affinity             `json:"affinity,omitempty"`
	NodeSelector      map[string]string            `json:"nodeSelector,omitempty"`
	PodAnnotations    map[string]string            `json:"podAnnotations,omitempty"`
	PodLabels         map[string]string            `json:"podLabels,omitempty"`
	PriorityClassName string                       `json:"priorityClassName,omitempty"`
	// AgentAuth is podid's own value: how the agents authenticate to podid,
	// AuthToken ("token", the default: each agent's projected token,
	// node-bound credentials, no Secret) or AuthSecret ("secret": one
	// shared access key in a Secret).
	AgentAuth string `json:"agentAuth,omitempty"`
}

// ConfigurationSchema is the JSON schema DescribeAddonConfiguration
// returns for the agent add-on: what ParseValues accepts.
const ConfigurationSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,` +
	`"properties":{` +
	`"agent":{"type":"object","additionalProperties":false,"properties":{"additionalArgs":{"type":"object","additionalProperties":{"type":"string"},"description":"Extra agent flags, rendered as the arguments KEY VALUE."}}},` +
	`"tolerations":{"type":"array","items":{"type":"object"},"description":"Tolerations of the agent pods (default: tolerate every taint)."},` +
	`"resources":{"type":"object","properties":{"limits":{"type":"object"},"requests":{"type":"object"}},"description":"Resources of the agent container (default: 25m CPU and 32Mi memory requested)."},` +
	`"affinity":{"type":"object","description":"Affinity of the agent pods."},` +
	`"nodeSelector":{"type":"object","additionalProperties":{"type":"string"}},` +
	`"podAnnotations":{"type":"object","additionalProperties":{"type":"string"}},` +
	`"podLabels":{"type":"object","additionalProperties":{"type":"string"}},` +
	`"priorityClassName":{"type":"string","description":"Priority class of the agent pods (default: system-node-critical)."},` +
	`"agentAuth":{"type":"string","enum":["token","secret"],"description":"podid: how agents authenticate. token (default): each agent's projected service-account token, exchanged for credentials bound to its node; no Secret. secret: one access key shared by every agent, in the Secret kube-system/podid-agent-credentials."}}}`

// unknownField finds the field name in the JSON decoder's complaint.
var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)

// ParseValues reads configurationValues ("" means none). Unknown keys and
// wrong types are refused with a message in EKS's words.
func ParseValues(s string) (*Values, error) {
	v := &Values{}
	if strings.TrimSpace(s) == "" {
		return v, nil
	}
	if err := yaml.UnmarshalStrict([]byte(s), v); err != nil {
		msg := err.Error()
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("$.%s: is not defined in the schema and the schema does not allow additional properties", m[1])
		} else if strings.Contains(msg, "cannot unmarshal") {
			msg = "the values do not match the schema (see DescribeAddonConfiguration): " + trimDecoderPrefix(msg)
		} else {
			msg = "the values are not a JSON or YAML object"
		}
		return nil, errors.New("ConfigurationValue provided in request is not supported: Json schema validation failed with error: [" + msg + "]")
	}
	if v.AgentAuth != "" && v.AgentAuth != AuthToken && v.AgentAuth != AuthSecret {
		return nil, fmt.Errorf("ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.agentAuth: must be one of the following: \"token\", \"secret\"]")
	}
	for k := range v.PodLabels {
		if k == NameLabel || k == ManagedByLabel {
			return nil, fmt.Errorf("ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.podLabels.%s: podid sets this label itself]", k)
		}
	}
	return v, nil
}

// trimDecoderPrefix drops the YAML/JSON decoders' own prefixes.
func trimDecoderPrefix(msg string) string {
	for _, p := range []string{"error unmarshaling JSON: while decoding JSON: ", "error converting YAML to JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// ValidateConfiguration checks configurationValues for CreateAddon and
// UpdateAddon (eks.AddonConfigSchema).
func (i *Installer) ValidateConfiguration(values string) error {
	_, err := ParseValues(values)
	return err
}

// ConfigurationSchema returns ConfigurationSchema (eks.AddonConfigSchema).
func (i *Installer) ConfigurationSchema() string { return ConfigurationSchema }

// asApply converts an API value to its apply configuration; the two share
// their JSON form.
func asApply[T any](v any) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// applyValues sets the configured parts of the agent's pod.
func applyValues(v *Values, pod *corev1ac.PodSpecApplyConfiguration, tmpl *corev1ac.PodTemplateSpecApplyConfiguration, c *corev1ac.ContainerApplyConfiguration) error {
	if v.Agent != nil {
		keys := make([]string, 0, len(v.Agent.AdditionalArgs))
		for k := range v.Agent.AdditionalArgs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			c.WithArgs(k, v.Agent.AdditionalArgs[k])
		}
	}
	if v.Tolerations != nil {
		pod.Tolerations = nil
		for _, t := range v.Tolerations {
			ac, err := asApply[corev1ac.TolerationApplyConfiguration](t)
			if err != nil {
				return err
			}
			pod.WithTolerations(ac)
		}
	}
	if v.Resources != nil {
		ac, err := asApply[corev1ac.ResourceRequirementsApplyConfiguration](v.Resources)
		if err != nil {
			return err
		}
		c.WithResources(ac)
	}
	if v.Affinity != nil {
		ac, err := asApply[corev1ac.AffinityApplyConfiguration](v.Affinity)
		if err != nil {
			return err
		}
		pod.WithAffinity(ac)
	}
	if len(v.NodeSelector) > 0 {
		pod.WithNodeSelector(v.NodeSelector)
	}
	if v.PriorityClassName != "" {
		pod.WithPriorityClassName(v.PriorityClassName)
	}
	if len(v.PodAnnotations) > 0 {
		tmpl.WithAnnotations(v.PodAnnotations)
	}
	if len(v.PodLabels) > 0 {
		tmpl.WithLabels(v.PodLabels)
	}
	return nil
}
