package spec

import "testing"

func TestParseColor(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Color
		wantErr bool
	}{
		{name: "blue", in: "blue", want: Blue},
		{name: "green", in: "green", want: Green},
		{name: "capitalised is rejected", in: "Blue", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseColor(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseColor(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseColor(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestOther(t *testing.T) {
	if got := Blue.Other(); got != Green {
		t.Errorf("Blue.Other() = %v, want green", got)
	}
	if got := Green.Other(); got != Blue {
		t.Errorf("Green.Other() = %v, want blue", got)
	}
}
