package spec

import "testing"

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Quantity
		wantErr bool
	}{
		{name: "binary", in: "2Gi", want: 2 << 30},
		{name: "decimal", in: "1G", want: 1e9},
		{name: "fraction", in: "1.5Ki", want: 1536},
		{name: "bytes", in: "4096", want: 4096},
		{name: "negative", in: "-1Gi", wantErr: true},
		{name: "nan", in: "NaNGi", wantErr: true},
		{name: "infinite", in: "InfMi", wantErr: true},
		{name: "overflow", in: "1e30", wantErr: true},
		{name: "unit only", in: "Gi", wantErr: true},
		{name: "unknown unit", in: "2GB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuantity(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseQuantity(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestQuantityString(t *testing.T) {
	for q, want := range map[Quantity]string{2 << 30: "2Gi", 512 << 20: "512Mi", 1536: "1536", 0: "0", 1e9: "1000000000"} {
		if got := q.String(); got != want {
			t.Errorf("Quantity(%d).String() = %q, want %q", int64(q), got, want)
		}
	}
}
