package policy

import (
	"math"
	"strconv"
)

// instant is a point in time: seconds since the Unix epoch and
// nanoseconds.
type instant struct {
	sec  int64
	nsec int64
}

func (a instant) cmp(b instant) int {
	switch {
	case a.sec < b.sec:
		return -1
	case a.sec > b.sec:
		return 1
	case a.nsec < b.nsec:
		return -1
	case a.nsec > b.nsec:
		return 1
	}
	return 0
}

// Year bounds IAM accepts in dates (Java's Date range).
const (
	minYear = -292275054
	maxYear = 292278993
)

// parseDate reads a Date condition value the way IAM does: a string that
// contains "t"/"T" or "-" is an ISO-8601 date-time profile (YYYY,
// YYYY-MM, YYYY-MM-DD, each optionally followed by T and hh, hh:mm,
// hh:mm:ss, hh:mm:ss.fffffffff, and a zone Z or ±hh:mm / ±hhmm; no zone
// means UTC); anything else must be an epoch time in whole seconds between
// 0 and 2^63-1. It never allocates.
func parseDate(s string) (instant, bool) {
	iso := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 't' || c == 'T' || c == '-' {
			iso = true
			break
		}
	}
	if !iso {
		if len(s) == 0 || len(s) > 19 {
			return instant{}, false
		}
		var n uint64
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return instant{}, false
			}
			n = n*10 + uint64(s[i]-'0')
		}
		if n > math.MaxInt64 {
			return instant{}, false
		}
		return instant{sec: int64(n)}, true
	}
	return parseISO(s)
}

// readInt reads 1..maxDigits decimal digits at s[i:].
func readInt(s string, i, maxDigits int) (v int64, next int, ok bool) {
	start := i
	for i < len(s) && isDigit(s[i]) && i-start < maxDigits {
		v = v*10 + int64(s[i]-'0')
		i++
	}
	if i == start || (i < len(s) && isDigit(s[i])) {
		return 0, i, false
	}
	return v, i, true
}

func parseISO(s string) (instant, bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg, i = true, i+1
	}
	year, i, ok := readInt(s, i, 9)
	if !ok {
		return instant{}, false
	}
	if neg {
		year = -year
	}
	if year < minYear || year > maxYear {
		return instant{}, false
	}
	month, day := int64(1), int64(1)
	if i < len(s) && s[i] == '-' {
		if month, i, ok = readInt(s, i+1, 2); !ok || month < 1 || month > 12 {
			return instant{}, false
		}
		if i < len(s) && s[i] == '-' {
			if day, i, ok = readInt(s, i+1, 2); !ok || day < 1 || day > 31 {
				return instant{}, false
			}
		}
	}
	var hh, mm, ss, frac int64
	if i < len(s) {
		if s[i] != 't' && s[i] != 'T' {
			return instant{}, false
		}
		i++
		if i < len(s) && isDigit(s[i]) {
			if hh, i, ok = readInt(s, i, 2); !ok || hh > 23 {
				return instant{}, false
			}
			if i < len(s) && s[i] == ':' {
				if mm, i, ok = readInt(s, i+1, 2); !ok || mm > 59 {
					return instant{}, false
				}
				if i < len(s) && s[i] == ':' {
					if ss, i, ok = readInt(s, i+1, 2); !ok || ss > 59 {
						return instant{}, false
					}
					if i < len(s) && s[i] == '.' {
						i++
						start := i
						for i < len(s) && isDigit(s[i]) {
							if i-start == 9 {
								return instant{}, false
							}
							frac = frac*10 + int64(s[i]-'0')
							i++
						}
						if i == start {
							return instant{}, false
						}
						for k := i - start; k < 9; k++ {
							frac *= 10
						}
					}
				}
			}
		}
	}
	var offset int64
	if i < len(s) {
		switch s[i] {
		case 'z', 'Z':
			i++
		case '+', '-':
			sign := int64(1)
			if s[i] == '-' {
				sign = -1
			}
			i++
			oh, ok1 := two(s, i)
			if !ok1 || oh > 23 {
				return instant{}, false
			}
			i += 2
			if i < len(s) && s[i] == ':' {
				i++
			}
			om, ok2 := two(s, i)
			if !ok2 || om > 59 {
				return instant{}, false
			}
			i += 2
			offset = sign * (oh*3600 + om*60)
		default:
			return instant{}, false
		}
	}
	if i != len(s) {
		return instant{}, false
	}
	days := daysFromCivil(year, month, day)
	return instant{sec: days*86400 + hh*3600 + mm*60 + ss - offset, nsec: frac}, true
}

// two reads exactly two digits at s[i:].
func two(s string, i int) (int64, bool) {
	if i+2 > len(s) || !isDigit(s[i]) || !isDigit(s[i+1]) {
		return 0, false
	}
	return int64(s[i]-'0')*10 + int64(s[i+1]-'0'), true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm). Day overflow (Feb 31) rolls over.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// number is a parsed numeric condition value.
type number struct {
	isInt bool
	i     int64
	f     float64
}

func (a number) cmp(b number) int {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	}
	switch {
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	}
	return 0
}

// parseNumber reads an integer or decimal ("-12", "3.5", "1e3"). The
// syntax is checked first so that strconv never builds an error value: the
// evaluation hot path stays allocation-free even for bad request values.
func parseNumber(s string) (number, bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	integral := true
	if i < len(s) && s[i] == '.' {
		integral = false
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return number{}, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		integral = false
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		ed := 0
		for i < len(s) && isDigit(s[i]) {
			i, ed = i+1, ed+1
		}
		if ed == 0 {
			return number{}, false
		}
	}
	if i != len(s) || len(s) > 400 {
		return number{}, false
	}
	var n number
	if integral {
		if v, ok := parseInt64(s); ok {
			n.isInt, n.i, n.f = true, v, float64(v)
			return n, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return number{}, false
	}
	n.f = f
	return n, true
}

// parseInt64 reads an optionally signed decimal integer that fits int64.
func parseInt64(s string) (int64, bool) {
	neg := false
	switch {
	case s == "":
		return 0, false
	case s[0] == '-':
		neg, s = true, s[1:]
	case s[0] == '+':
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(s[i]-'0')
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	case neg && u == 1<<63:
		return math.MinInt64, true
	case neg && u < 1<<63:
		return -int64(u), true
	}
	return 0, false
}

// parseBool reads "true"/"false" in any case.
func parseBool(s string) (val, ok bool) {
	switch len(s) {
	case 4:
		if asciiEqualFold(s, "true") {
			return true, true
		}
	case 5:
		if asciiEqualFold(s, "false") {
			return false, true
		}
	}
	return false, false
}
