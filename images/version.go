package images

import "strings"

// CompareVersions orders resource set versions: it returns -1, 0 or +1 as
// a sorts before, equal to or after b. Versions are compared piece by
// piece, where a piece is a run of digits or a run of anything else: digit
// runs compare as numbers of any length (so "20261121.2" < "20261121.10",
// "9" < "10", "2026-11-3" < "2026-11-21"), other runs byte by byte, and a
// version that is a prefix of the other sorts first ("20261121" <
// "20261121.1"). Versions that differ only in leading zeros ("01" and "1")
// fall back to plain string order, so the order is total and 0 means
// a == b. Every "newest version" choice in the package uses it.
func CompareVersions(a, b string) int {
	if c := comparePieces(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// comparePieces is CompareVersions without the tie-break: 0 for versions
// that differ only in leading zeros.
func comparePieces(a, b string) int {
	for a != "" && b != "" {
		pa, ra, da := versionPiece(a)
		pb, rb, db := versionPiece(b)
		var c int
		switch {
		case da && db:
			c = compareDigits(pa, pb)
		case da != db:
			// A number against text at the same place: byte order of
			// the first characters (digits sort before letters).
			c = strings.Compare(pa[:1], pb[:1])
		default:
			c = strings.Compare(pa, pb)
		}
		if c != 0 {
			return c
		}
		a, b = ra, rb
	}
	switch {
	case a == "" && b != "":
		return -1
	case a != "" && b == "":
		return 1
	}
	return 0
}

// versionPiece splits the leading run of digits or non-digits off s.
func versionPiece(s string) (piece, rest string, digits bool) {
	digits = isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:], digits
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// compareDigits compares two digit strings as numbers of any length.
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
