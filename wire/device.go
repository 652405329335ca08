package wire

// DeviceState is the body of device.state (docs/protocol.md §2.4, §7.2),
// the retained state, and of the local API's GET /v1/state.
type DeviceState struct {
	Online  bool         `json:"online"`
	FW      string       `json:"fw"`
	Board   string       `json:"board"`
	Cfg     int          `json:"cfg"`
	Printer string       `json:"printer"`
	Scanner string       `json:"scanner"`
	Audio   string       `json:"audio"`
	Volume  int          `json:"volume"`
	Shift   *DeviceShift `json:"shift"`
	Outbox  int          `json:"outbox"`
	TS      int64        `json:"ts"`
	// Pay is the payment in progress, for the display: what the device
	// says and shows (请出示付款码 …). An extension; absent when idle.
	Pay *DevicePay `json:"pay,omitempty"`
	// Key is "replaced" when the device key is not the one the journal
	// was made with (device_key.pem lost): the platform, which pins the
	// first key, refuses the new one's money requests until an installer
	// re-binds the device. An extension; absent otherwise.
	Key string `json:"key,omitempty"`
	// Storage is "lost" (for 48 h after the journal was lost and a new one
	// begun) or "full" (journal writes failing for space); absent when the
	// journal is well. An extension.
	Storage string `json:"storage,omitempty"`
}

// DevicePay is the payment in progress in DeviceState.
type DevicePay struct {
	OutTradeNo string `json:"out_trade_no"`
	State      string `json:"state"`
	Amount     int64  `json:"amount"`
	Message    string `json:"message"`
}

// DeviceShift is the open shift in DeviceState.
type DeviceShift struct {
	Staff     string `json:"staff"`                // staff id
	StaffName string `json:"staff_name,omitempty"` // their name, as the cashier reads it
	Since     int64  `json:"since"`
}

// Error is the body of error (docs/protocol.md §7.9): a command refused,
// with the command's jti as Ref.
type Error struct {
	Ref     string `json:"ref"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// ConfigApplied is the body of config.applied (docs/protocol.md §13), the
// answer to config.set (and a config QR's trial) once the new config runs.
type ConfigApplied struct {
	Version int64 `json:"version"`
}

// ConfigRejected is the body of config.rejected: the config was refused or
// rolled back (Restored: the previous config runs again).
type ConfigRejected struct {
	Version  int64  `json:"version"`
	Reason   string `json:"reason"`
	Message  string `json:"message,omitempty"`
	Restored bool   `json:"restored"`
}

// OTAProgress is the body of ota.progress (docs/protocol.md §14).
type OTAProgress struct {
	Version string `json:"version"`
	State   string `json:"state"`
	Bytes   int64  `json:"bytes,omitempty"`
	Size    int64  `json:"size,omitempty"`
}

// OTAResult is the body of ota.result, the answer to ota.update.
type OTAResult struct {
	Version string `json:"version"`
	Status  string `json:"status"` // ok, failed, rolled_back, current
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	From    string `json:"from,omitempty"`
	Running string `json:"running"` // the firmware running now
}
