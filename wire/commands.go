package wire

import "encoding/json"

// The bodies of the platform's commands (docs/protocol.md §6), as the
// device decodes them: strictly, an unknown field is a bad_request. A
// platform encodes the same structs.

// PayCollect is the body of pay.collect. TimeoutS is how long to wait for
// a code (0: pay.collect_timeout_ms).
type PayCollect struct {
	OutTradeNo string `json:"out_trade_no"`
	Amount     int64  `json:"amount"`
	Desc       string `json:"desc"`
	Deposit    bool   `json:"deposit"`
	TimeoutS   int64  `json:"timeout_s"`
}

// NotifyPayment is the body of notify.payment: an announcement, and a
// receipt when Print. The device fills the optional fields for its own
// payments, refunds and deposit operations: the order a refund or deposit
// operation belongs to (OrderID is then the refund or request number),
// what was sold, who took it, the provider's transaction number.
type NotifyPayment struct {
	OrderID       string `json:"order_id"`
	Amount        int64  `json:"amount"`
	Wallet        string `json:"wallet"`
	Kind          string `json:"kind"`
	Print         bool   `json:"print"`
	Copies        int    `json:"copies"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
	Desc          string `json:"desc,omitempty"`
	Staff         string `json:"staff,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// PrintJob is the body of print.job.
type PrintJob struct {
	JobID  string `json:"job_id"`
	Copies int    `json:"copies"`
	Doc    string `json:"doc"`
}

// DeviceSpeak is the body of device.speak; Text is required.
type DeviceSpeak struct {
	Text *string `json:"text"`
}

// DeviceVolume is the body of device.volume; Level (0-10) is required.
type DeviceVolume struct {
	Level *int `json:"level"`
}

// ShiftEnd is the body of shift.end; StaffID, when given, must be the
// one on shift.
type ShiftEnd struct {
	StaffID string `json:"staff_id"`
}

// ConfigSet is the body of config.set: a signed patch of the
// configuration, newer than Version's predecessor.
type ConfigSet struct {
	Version int64           `json:"version"`
	Patch   json.RawMessage `json:"patch"`
}

// OTAUpdate is the body of ota.update: a signed firmware manifest and
// where to fetch the image. AllowDowngrade (signed with the rest) lets an
// older version in.
type OTAUpdate struct {
	Version        string `json:"version"`
	URL            string `json:"url"`
	Size           int64  `json:"size"`
	SHA256         string `json:"sha256"`
	Sig            string `json:"sig"`
	AllowDowngrade bool   `json:"allow_downgrade"`
}
