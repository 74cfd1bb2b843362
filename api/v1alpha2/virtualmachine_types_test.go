package v1alpha2

import "testing"

func TestDisruptionsEffectiveApprovalMode(t *testing.T) {
	tests := []struct {
		name string
		d    *Disruptions
		want RestartApprovalMode
	}{
		{"nil", nil, RestartApprovalModeManual},
		{"empty", &Disruptions{}, RestartApprovalModeManual},
		{"approvalMode only", &Disruptions{ApprovalMode: RestartApprovalModeAutomatic}, RestartApprovalModeAutomatic},
		{"restartApprovalMode only", &Disruptions{RestartApprovalMode: RestartApprovalModeAutomatic}, RestartApprovalModeAutomatic},
		{"both equal", &Disruptions{ApprovalMode: RestartApprovalModeAutomatic, RestartApprovalMode: RestartApprovalModeAutomatic}, RestartApprovalModeAutomatic},
		{"explicit manual", &Disruptions{RestartApprovalMode: RestartApprovalModeManual}, RestartApprovalModeManual},
		{"restartApprovalMode wins", &Disruptions{ApprovalMode: RestartApprovalModeAutomatic, RestartApprovalMode: RestartApprovalModeManual}, RestartApprovalModeManual},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.EffectiveApprovalMode(); got != tt.want {
				t.Errorf("EffectiveApprovalMode() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChecksumPairs(t *testing.T) {
	if got := (*Checksum)(nil).Pairs(); got != "" {
		t.Errorf("nil checksum = %q", got)
	}
	c := &Checksum{SHA256: "ab", MD5: "cd"}
	if got := c.Pairs(); got != "md5:cd,sha256:ab" {
		t.Errorf("Pairs() = %q", got)
	}
}
