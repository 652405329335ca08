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

// ShiftStart is the body of shift.start. The embedded Staff is who takes
// the shift: a platform of the bare contract sends only staff_id and
// staff_name, and the roster's entry for them stands; with PINHash, their
// Refund, Manager and PINHash replace that entry. Roster, when given,
// replaces the whole roster first (as staff.roster would).
type ShiftStart struct {
	Staff
	Roster *StaffRoster `json:"roster,omitempty"`
}

// StaffRoster is the body of staff.roster: the platform's whole staff
// list, which replaces the device's (so a right it drops is gone at once).
// One whose Version is below the one kept changes nothing: an old roster
// arriving late must not give back a revoked right. Version 0 (omitted) is
// always applied. The device keeps it in its journal in this very shape.
type StaffRoster struct {
	Version int64   `json:"version,omitempty"`
	Staff   []Staff `json:"staff"`
}

// Staff is one staff member as the platform names them, in staff.roster,
// in shift.start, and in the device's journal (roster and open shift), so
// these names are also the shape of records on disk. PINHash is pinhash's
// "scrypt:N:r:p:salt:key" of their PIN; without one the entry proves no
// one's identity and gives no right that needs a PIN.
type Staff struct {
	ID      string `json:"staff_id"`
	Name    string `json:"staff_name"`
	Refund  bool   `json:"refund"`  // holds the refund right
	Manager bool   `json:"manager"` // the store manager: may refund off shift
	PINHash string `json:"pin_hash,omitempty"`
}

// ConfigSet is the body of config.set: a signed patch of the
// configuration, newer than Version's predecessor. Patch is omitted when
// empty, so that an encoder that has none sends the body the device
// refuses as lacking a patch, not "patch":null, which decodes as a patch.
type ConfigSet struct {
	Version int64           `json:"version"`
	Patch   json.RawMessage `json:"patch,omitempty"`
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
