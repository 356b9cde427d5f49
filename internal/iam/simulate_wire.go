package iam

import (
	"strconv"
	"strings"

	"github.com/podid/podid/internal/awsproto"
)

// The simulator's awsQuery decoding and XML result shapes (botocore
// iam/2010-05-08: SimulatePolicyResponse, GetContextKeysForPolicyResponse).

func decodeSimulate(p awsproto.Params) (*SimulateInput, error) {
	marker, n, err := paging(p)
	if err != nil {
		return nil, err
	}
	in := &SimulateInput{
		PolicySourceARN:                    p.Get("PolicySourceArn"),
		PolicyInputList:                    listParam(p, "PolicyInputList"),
		PermissionsBoundaryPolicyInputList: listParam(p, "PermissionsBoundaryPolicyInputList"),
		ActionNames:                        listParam(p, "ActionNames"),
		ResourceArns:                       listParam(p, "ResourceArns"),
		ResourcePolicy:                     p.Get("ResourcePolicy"),
		ResourceOwner:                      p.Get("ResourceOwner"),
		CallerArn:                          p.Get("CallerArn"),
		ResourceHandlingOption:             p.Get("ResourceHandlingOption"),
		MaxItems:                           n,
		Marker:                             marker,
	}
	for _, m := range p.Structs("ContextEntries") {
		e := ContextEntry{Name: m["ContextKeyName"], Type: m["ContextKeyType"]}
		for i := 1; ; i++ {
			v, ok := m["ContextKeyValues.member."+strconv.Itoa(i)]
			if !ok {
				break
			}
			e.Values = append(e.Values, v)
		}
		in.ContextEntries = append(in.ContextEntries, e)
	}
	return in, nil
}

// listParam is a list parameter: nil when not sent, empty when sent as an
// empty list (Name=), its members otherwise.
func listParam(p awsproto.Params, name string) []string {
	l := p.List(name)
	if l == nil && (p.Has(name) || hasPrefix(p, name+".member.")) {
		return []string{}
	}
	return l
}

func hasPrefix(p awsproto.Params, prefix string) bool {
	for k := range p.Values {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

type positionXML struct {
	Line   int `xml:"Line"`
	Column int `xml:"Column"`
}

type statementXML struct {
	SourcePolicyID   string      `xml:"SourcePolicyId"`
	SourcePolicyType string      `xml:"SourcePolicyType"`
	StartPosition    positionXML `xml:"StartPosition"`
	EndPosition      positionXML `xml:"EndPosition"`
}

type boundaryDetailXML struct {
	AllowedByPermissionsBoundary bool `xml:"AllowedByPermissionsBoundary"`
}

type resourceSpecificXML struct {
	EvalResourceName                  string                `xml:"EvalResourceName"`
	EvalResourceDecision              string                `xml:"EvalResourceDecision"`
	MatchedStatements                 members[statementXML] `xml:"MatchedStatements"`
	MissingContextValues              members[string]       `xml:"MissingContextValues"`
	PermissionsBoundaryDecisionDetail *boundaryDetailXML    `xml:"PermissionsBoundaryDecisionDetail,omitempty"`
}

type evaluationResultXML struct {
	EvalActionName                    string                        `xml:"EvalActionName"`
	EvalResourceName                  string                        `xml:"EvalResourceName"`
	EvalDecision                      string                        `xml:"EvalDecision"`
	MatchedStatements                 members[statementXML]         `xml:"MatchedStatements"`
	MissingContextValues              members[string]               `xml:"MissingContextValues"`
	PermissionsBoundaryDecisionDetail *boundaryDetailXML            `xml:"PermissionsBoundaryDecisionDetail,omitempty"`
	ResourceSpecificResults           *members[resourceSpecificXML] `xml:"ResourceSpecificResults,omitempty"`
}

type simulateResult struct {
	EvaluationResults members[evaluationResultXML] `xml:"EvaluationResults"`
	IsTruncated       bool                         `xml:"IsTruncated"`
	Marker            string                       `xml:"Marker,omitempty"`
}

type contextKeysResult struct {
	ContextKeyNames members[string] `xml:"ContextKeyNames"`
}

func statementsXML(refs []StatementRef) members[statementXML] {
	out := make([]statementXML, len(refs))
	for i, r := range refs {
		out[i] = statementXML{
			SourcePolicyID: r.SourcePolicyID, SourcePolicyType: r.SourcePolicyType,
			StartPosition: positionXML(r.Start), EndPosition: positionXML(r.End),
		}
	}
	return listOf(out)
}

func encodeSimulate(o *SimulateOutput) any {
	r := &simulateResult{IsTruncated: o.IsTruncated, Marker: o.Marker}
	for _, e := range o.EvaluationResults {
		x := evaluationResultXML{
			EvalActionName: e.ActionName, EvalResourceName: e.ResourceName, EvalDecision: e.Decision,
			MatchedStatements: statementsXML(e.MatchedStatements), MissingContextValues: listOf(e.MissingContextValues),
		}
		var bd *boundaryDetailXML
		if e.AllowedByBoundary != nil {
			bd = &boundaryDetailXML{AllowedByPermissionsBoundary: *e.AllowedByBoundary}
			x.PermissionsBoundaryDecisionDetail = bd
		}
		if e.ResourceName != "*" {
			rs := listOf([]resourceSpecificXML{{
				EvalResourceName: e.ResourceName, EvalResourceDecision: e.Decision,
				MatchedStatements: x.MatchedStatements, MissingContextValues: x.MissingContextValues,
				PermissionsBoundaryDecisionDetail: bd,
			}})
			x.ResourceSpecificResults = &rs
		}
		r.EvaluationResults.Members = append(r.EvaluationResults.Members, x)
	}
	return r
}

func decodeContextKeys(p awsproto.Params) (*ContextKeysInput, error) {
	return &ContextKeysInput{PolicySourceARN: p.Get("PolicySourceArn"), PolicyInputList: listParam(p, "PolicyInputList")}, nil
}

func encodeContextKeys(o *ContextKeysOutput) any {
	return &contextKeysResult{ContextKeyNames: listOf(o.ContextKeyNames)}
}

// simulatorHandlers are the simulator's entries of the action table.
func (s *Service) simulatorHandlers() map[string]queryHandler {
	return map[string]queryHandler{
		"SimulateCustomPolicy":             handle(decodeSimulate, s.SimulateCustomPolicy, encodeSimulate),
		"SimulatePrincipalPolicy":          handle(decodeSimulate, s.SimulatePrincipalPolicy, encodeSimulate),
		"GetContextKeysForCustomPolicy":    handle(decodeContextKeys, s.GetContextKeysForCustomPolicy, encodeContextKeys),
		"GetContextKeysForPrincipalPolicy": handle(decodeContextKeys, s.GetContextKeysForPrincipalPolicy, encodeContextKeys),
	}
}
