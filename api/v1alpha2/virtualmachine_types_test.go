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
