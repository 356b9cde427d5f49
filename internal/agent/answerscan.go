package agent

// The fast path of decodeAssumeOutput: EKS Auth's answer read in one pass
// with the scanner of tokenscan.go, instead of encoding/json's validation
// pass and reflection (40% of an upstream call's CPU on a kept connection,
// BenchmarkUpstreamCall). It reads what podid's and AWS's EKS Auth write
// (ASCII strings without escapes, no repeated or case-folded names);
// anything else is declined and encoding/json reads it, as before.
// FuzzAnswerPaths checks that both paths give the same result.

var (
	answerNames = []string{"subject", "podIdentityAssociation", "assumedRoleUser", "credentials"}
	subjectName = []string{"namespace", "serviceAccount"}
	assocNames  = []string{"associationId"}
	arnNames    = []string{"arn"}
	credNames   = []string{"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}
)

// fastAssumeOutput reads data as encoding/json would into assumeOutput,
// or declines (ok false).
func fastAssumeOutput(data []byte) (*assumeOutput, bool) {
	s := newScan(data)
	s.WS()
	out := &assumeOutput{}
	f := fields{names: answerNames}
	ok := s.Object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		switch i {
		case 0:
			return true, s.strFields(subjectName, &out.Subject.Namespace, &out.Subject.ServiceAccount)
		case 1:
			return true, s.strFields(assocNames, &out.PodIdentityAssociation.AssociationID)
		case 2:
			return true, s.strFields(arnNames, &out.AssumedRoleUser.Arn)
		}
		cr := &out.Credentials
		cf := fields{names: credNames}
		return true, s.Object(func(k []byte) (bool, bool) {
			i, ok := cf.match(k)
			if !ok || i < 0 {
				return false, ok
			}
			if i == 3 { // expiration: the raw value, as json.RawMessage
				start := s.Pos()
				if !s.Skip() {
					return true, false
				}
				cr.Expiration = append([]byte(nil), s.Since(start)...)
				return true, true
			}
			v, ok := s.StrOrNull()
			switch i {
			case 0:
				cr.AccessKeyID = string(v)
			case 1:
				cr.SecretAccessKey = string(v)
			default:
				cr.SessionToken = string(v)
			}
			return true, ok
		})
	})
	if !ok || !s.End() {
		return nil, false
	}
	return out, true
}

// strFields reads an object whose members names[i] are strings (or null,
// which leaves dst[i] empty) into dst[i], skipping other members.
func (s *jscan) strFields(names []string, dst ...*string) bool {
	f := fields{names: names}
	return s.Object(func(k []byte) (bool, bool) {
		i, ok := f.match(k)
		if !ok || i < 0 {
			return false, ok
		}
		v, ok := s.StrOrNull()
		*dst[i] = string(v)
		return true, ok
	})
}
