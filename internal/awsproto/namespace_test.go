package awsproto

// QueryNamespace is the XML namespace of the awsQuery services these
// tests serve (each service's own descriptor carries it in podid).
var QueryNamespace = map[string]string{
	"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
	"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
