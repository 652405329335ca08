package wire

// Message types (the envelope's "type", protocol §2–§4; docs/protocol.md
// lists each with its body). Both sides name them through these constants,
// so a type renamed or mistyped on one side does not build.

// Commands: platform → device, on the device's cmd topic.
const (
	TypeNotifyPayment = "notify.payment"
	TypeDeviceVolume  = "device.volume"
	TypeDeviceSpeak   = "device.speak"
	TypeDeviceReboot  = "device.reboot"
	TypePrintJob      = "print.job"
	TypePayCollect    = "pay.collect"
	TypePayCancel     = "pay.cancel"
	TypeShiftStart    = "shift.start"
	TypeShiftEnd      = "shift.end"
	TypeStaffRoster   = "staff.roster"
	TypeConfigSet     = "config.set"
	TypeOTAUpdate     = "ota.update"
)

// Events: device → platform, on the device's evt topic; answers to
// commands (their ref the command's jti) or news of the device's own.
const (
	TypeNotifyDone         = "notify.done"
	TypeDeviceHello        = "device.hello"
	TypeDeviceState        = "device.state"
	TypeDeviceStorage      = "device.storage"
	TypePayProgress        = "pay.progress"
	TypePayResult          = "pay.result"
	TypePrintResult        = "print.result"
	TypeRefundResult       = "refund.result"
	TypeDepositResult      = "deposit.result"
	TypeShiftChanged       = "shift.changed"
	TypeShiftSummary       = "shift.summary"
	TypeStaffRosterApplied = "staff.roster.applied"
	TypeConfigApplied      = "config.applied"
	TypeConfigRejected     = "config.rejected"
	TypeOTAProgress        = "ota.progress"
	TypeOTAResult          = "ota.result"
	TypeError              = "error"
)

// Requests: device → platform, the money flows' steps (Catalogue says how
// each is signed).
const (
	TypePaySubmit       = "pay.submit"
	TypePayQuery        = "pay.query"
	TypePayReverse      = "pay.reverse"
	TypeOrderLookup     = "order.lookup"
	TypeRefundRequest   = "refund.request"
	TypeRefundQuery     = "refund.query"
	TypeDepositConsume  = "deposit.consume"
	TypeDepositUnfreeze = "deposit.unfreeze"
	TypeDepositQuery    = "deposit.query"
)

// Answers: platform → device, on the cmd topic, to the requests.
const (
	TypePayStatus     = "pay.status"
	TypeOrderFound    = "order.found"
	TypeRefundStatus  = "refund.status"
	TypeDepositStatus = "deposit.status"
)
