package agent

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// podidAnswer is an answer as podid's EKS Auth writes it.
const podidAnswer = `{"assumedRoleUser":{"arn":"arn:aws:sts::111122223333:assumed-role/r/eks-bench-carts-7c9d8b6d4-00001","assumeRoleId":"AROAEXAMPLE:eks-bench"},` +
	`"audience":"pods.eks.amazonaws.com","credentials":{"accessKeyId":"ASIAIOSFODNN7EXAMPLE","expiration":1.7650656e9,` +
	`"secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","sessionToken":"IQoJb3JpZ2luX2Vj+/EXAMPLE=="},` +
	`"podIdentityAssociation":{"associationArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/c/a-abcdefghijklmnop1","associationId":"a-abcdefghijklmnop1"},` +
	`"subject":{"namespace":"carts","serviceAccount":"carts"}}`

// answerCases are answers where a careless reader would differ from
// encoding/json; they seed FuzzAnswerPaths.
var answerCases = []string{
	podidAnswer,
	" \n" + podidAnswer + "\t",
	`{"credentials":{"accessKeyId":"A","accessKeyId":"B"}}`,
	`{"Credentials":{"accessKeyId":"A"},"credentials":{"accessKeyId":"B"}}`,
	`{"credentials":{"ACCESSKEYID":"A","secretAccessKey":"s","sessionToken":"t","expiration":1}}`,
	`{"credentials":{"accessKeyId":"A\u0042","secretAccessKey":"s","sessionToken":"t","expiration":1}}`,
	`{"credentials":{"accessKeyId":null,"secretAccessKey":"s","sessionToken":"t","expiration":null}}`,
	`{"credentials":{"accessKeyId":1}}`,
	`{"credentials":null,"subject":{"namespace":"n"}}`,
	`{"credentials":{"expiration":"1765065600"}}`,
	`{"credentials":{"expiration":{"a":1,"a":2}}}`,
	`{"credentials":{"expiration":[1,2]}}`,
	`{"credentials":{"expiration":-0.5e-3}}`,
	`{"subject":{"namespace":"ns","namespace":"other"}}`,
	`{"subject":"carts"}`,
	`{"x":{"y":[true,false,null,{"z":"w"}]},"subject":{"namespace":"ns"}}`,
	`{"subject":{"namespace":"cärts"}}`,
	`{"subject":{"namespace":"a"}} x`,
	`[]`,
	`null`,
	``,
	`{"subject":{"namespace":"a"},}`,
}

// TestAnswerFastPath: podid's answer takes the fast path, and every case
// decodes the same both ways.
func TestAnswerFastPath(t *testing.T) {
	if _, ok := fastAssumeOutput([]byte(podidAnswer)); !ok {
		t.Fatal("podid's answer was declined")
	}
	res, err := decodeAssumeOutput([]byte(podidAnswer))
	if err != nil || res.AccountID != "111122223333" || res.AssociationID != "a-abcdefghijklmnop1" || res.SessionToken != "IQoJb3JpZ2luX2Vj+/EXAMPLE==" ||
		res.Namespace != "carts" || res.Expiration.Unix() != 1765065600 {
		t.Fatalf("decodeAssumeOutput = %+v, %v", res, err)
	}
	for _, c := range answerCases {
		sameAnswer(t, []byte(c))
	}
}

func sameAnswer(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := fastAssumeOutput(data)
	if !ok {
		return
	}
	var ref assumeOutput
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("%q: fast path accepted what encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(*fast, ref) {
		t.Fatalf("%q: fast path read %+v, encoding/json %+v", data, *fast, ref)
	}
}

// FuzzAnswerPaths: whatever the fast path accepts, encoding/json reads
// the same way.
func FuzzAnswerPaths(f *testing.F) {
	for _, c := range answerCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(strings.Replace(podidAnswer, `"subject"`, `"subjecT"`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) { sameAnswer(t, data) })
}
