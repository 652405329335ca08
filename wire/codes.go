package wire

import "strings"

// Provider error codes (protocol §4): the platform forwards the err_code of
// the payment provider that handled the order in its pay.status,
// refund.status and deposit.status answers. A device in a Chinese shop meets
// both WeChat Pay's v2 codes (upper case, SYSTEMERROR) and Alipay's sub_code
// (ACQ.*), besides the platform's own few. What a device may do after a code
// depends only on one question — is the money's fate known? — so every code
// is given a CodeClass, and a short Chinese reason for the cashier.
//
// The tables are per API family because one code means different things in
// different answers: TRADE_ERROR after a payment is a decline (the customer
// was not charged), after a reverse it says the reverse will never go through;
// NOTENOUGH after a payment is the customer's balance, after a refund the
// merchant's. Codes are looked up exactly, after upper-casing: no prefix or
// pattern matching, so an unknown code stays unknown (ok == false) and the
// caller falls back to the answer's state, never to a guess.
//
// Every entry names its source: an official page where the stored copy was
// read, else the SDK or mirror that reproduces the provider's table. The
// sources, the mapping to wire states and the documented limits are in
// docs/provider-codes.md.

// CodeClass is what a provider's code tells the device about the money.
type CodeClass string

const (
	// ClassDefinite: the customer was definitely not charged (payment,
	// freeze, consume) or the refund or release definitely not made; final
	// for this request. The device may say the reason and close the attempt.
	ClassDefinite CodeClass = "definite"
	// ClassUnknown: the outcome is unknown (system error, bank timeout, the
	// customer still confirming). The device queries with the same number
	// and never reports failure on this code alone.
	ClassUnknown CodeClass = "unknown"
	// ClassOrderPaid: this number was already paid (WeChat ORDERPAID, Alipay
	// ACQ.TRADE_HAS_SUCCESS). The request failed, but the order did not: the
	// device queries it and never charges again under a new number.
	ClassOrderPaid CodeClass = "order_paid"
	// ClassNumberUsed: another request owns this number (same number, other
	// content or another payer). Nothing here is this request's: the device
	// never shows it PAID and never reverses it (that could close someone
	// else's payment); a person must look.
	ClassNumberUsed CodeClass = "number_used"
	// ClassRetry: the provider did not act and asks for the same request
	// again, same number, after a pause (WeChat BIZERR_NEED_RETRY,
	// FREQUENCY_LIMITED; Alipay retry_flag Y).
	ClassRetry CodeClass = "retry"
	// ClassReverseFinal: a reverse (WeChat 撤销订单, Alipay
	// alipay.trade.cancel) that cannot succeed however often it is sent. The
	// order keeps whatever state it has: the device queries it; a charged
	// order is to be refunded instead.
	ClassReverseFinal CodeClass = "reverse_final"
	// ClassNotFound: the provider has no such order or refund. After a
	// submit whose answer was lost it can mean the submit never arrived,
	// which only a later query settles, so it is not ClassDefinite.
	ClassNotFound CodeClass = "not_found"
)

// Valid reports whether c is one of the classes above.
func (c CodeClass) Valid() bool {
	switch c {
	case ClassDefinite, ClassUnknown, ClassOrderPaid, ClassNumberUsed,
		ClassRetry, ClassReverseFinal, ClassNotFound:
		return true
	}
	return false
}

// CodeInfo is what one code means.
type CodeInfo struct {
	Class CodeClass
	// Provider is whose code it is: "wechat", "alipay" or "platform".
	Provider string
	// Reason is what the cashier hears after the failure phrase (余额不足,
	// 付款码已过期): Chinese only, at most 8 characters, so a voice pack of
	// recorded phrases can hold it as one clip.
	Reason string
	// Source is where the meaning was read: a URL, or repository and path.
	Source string
}

// Providers.
const (
	ProviderWeChat   = "wechat"
	ProviderAlipay   = "alipay"
	ProviderPlatform = "platform"
)

// Sources, shared by the table entries.
const (
	srcWxMicropay    = "https://pay.weixin.qq.com/doc/v2/merchant/4011937125 (付款码支付, was micropay.php?chapter=9_10); 支付确认失败/支付结果未知 per code: github.com/deerchao/weixin.next src/Weixin.Next/Pay/MicroPay.cs"
	srcWxMicropayNew = "https://pay.weixin.qq.com/doc/v2/merchant/4011937125 (付款码支付 err_code table, row absent from the deerchao/weixin.next mirror of the table)"
	srcWxOrderQuery  = "https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_2 (查询订单); github.com/deerchao/weixin.next.core src/Weixin.Next/Pay/OrderQuery.cs"
	srcWxReverse     = "https://pay.weixin.qq.com/doc/v2/merchant/4011937361 (撤销订单); github.com/deerchao/weixin.next.core src/Weixin.Next/Pay/Reverse.cs"
	srcWxRefund      = "WeChat Pay v2 申请退款 err_code: github.com/binarywang/WxJava weixin-java-pay/src/main/java/com/github/binarywang/wxpay/constant/WxPayErrorCode.java (Refund)"
	srcWxRefundQuery = "WeChat Pay v2 查询退款 err_code: github.com/binarywang/WxJava weixin-java-pay/src/main/java/com/github/binarywang/wxpay/constant/WxPayErrorCode.java (RefundQuery)"
	srcWxRefundJS    = "WeChat Pay v2 refund err_code: github.com/bittercoffeetech/wechat-trade-js src/enums/ErrorCodeEnum.ts"
	srcWxDeposit     = "WeChat Pay 押金 (deposit) APIs reuse the v2 codes: https://pay.weixin.qq.com/doc/v2/partner/4011986801 (消费押金); its err_code table was not found"
	srcWxDepositNF   = "ORDERNOTEXIST 订单不存在 from /deposit/reverse and refund: https://developers.weixin.qq.com/community/develop/doc/00084e409ec390f9c6285707556000"

	srcAliGateway = "Alipay gateway code: github.com/mikuhuyo/flash-pay flash-pay-payment-agent/flash-pay-payment-agent-service/src/main/java/com/flash/paymentagent/common/constant/AliCodeConstants.java"
	srcAliSub     = "Alipay sub_code and solution: github.com/Bishoptylaor/paypay alipay/utils/busserr.go"
	srcAliQuery   = "alipay.trade.query: github.com/mingqcn/oomall-2022 alipay/src/main/java/cn/edu/xmu/oomall/alipay/util/AlipayReturnNo.java; github.com/Bishoptylaor/paypay alipay/utils/busserr.go"
	srcAliCancel  = "alipay.trade.cancel error table: https://www.apifox.cn/apidoc/docs-site/3618910/api-126370346"
	srcAliRefund  = "alipay.trade.refund sub_code: github.com/Bishoptylaor/paypay alipay/utils/busserr.go; https://zhifubao.apifox.cn/doc-3290173"
	srcAliAuthPay = "alipay.trade.pay with auth_no (预授权转支付): github.com/Bishoptylaor/paypay alipay/utils/busserr.go"
	srcAliFund    = "alipay.fund.auth error table (operation.detail.query; the freeze/unfreeze tables were not found): https://www.apifox.cn/apidoc/docs-site/3618910/api-127338885"

	srcPlatform = "posagent platform code (platform/provider.go, platform/deposit.go)"
)

func wx(c CodeClass, reason, src string) CodeInfo {
	return CodeInfo{Class: c, Provider: ProviderWeChat, Reason: reason, Source: src}
}

func ali(c CodeClass, reason, src string) CodeInfo {
	return CodeInfo{Class: c, Provider: ProviderAlipay, Reason: reason, Source: src}
}

func plat(c CodeClass, reason, src string) CodeInfo {
	return CodeInfo{Class: c, Provider: ProviderPlatform, Reason: reason, Source: src}
}

// Reasons said more than once.
const (
	reasonBusy       = "系统繁忙"
	reasonPaid       = "订单已支付"
	reasonDuplicate  = "订单号重复"
	reasonCodeBad    = "付款码无效"
	reasonNotEnough  = "余额不足"
	reasonClosed     = "订单已关闭"
	reasonNotFound   = "未找到订单"
	reasonParam      = "参数错误"
	reasonInvalid    = "请求无效"
	reasonConfig     = "商户配置错误"
	reasonNoAuth     = "商户未开通"
	reasonTimeout    = "支付超时"
	reasonRescan     = "请重新扫码"
	reasonOverLimit  = "超过收款限额"
	reasonPayerLimit = "超过付款限额"
	reasonPayer      = "付款人不一致"
	reasonNoReverse  = "无法撤销"
	reasonReverseOld = "已过撤销期限"
	reasonMerchantNE = "商户余额不足"
	reasonRefundAmt  = "退款金额超限"
	reasonRefundBad  = "退款金额无效"
	reasonRefundNo   = "退款单号重复"
	reasonState      = "订单状态错误"
	reasonFrozen     = "交易已冻结"
	reasonFinished   = "交易已完结"
	reasonNoRefund   = "不允许退款"
	reasonDepDone    = "押金已完结"
	reasonDepOver    = "金额超过押金"
)

// PayCodes are the answers to a payment or a deposit freeze: pay.submit
// (WeChat micropay and deposit micropay, Alipay alipay.trade.pay and
// alipay.fund.auth.order.freeze) and pay.query (WeChat orderquery, Alipay
// alipay.trade.query).
//
// WeChat's own table sorts its codes into 支付结果未知 (SYSTEMERROR,
// BANKERROR, USERPAYING: query) and 支付确认失败 (the rest); ORDERPAID and
// OUT_TRADE_NO_USED are in the second, but what failed is the request, not
// the order under that number, so they get their own classes here.
var PayCodes = map[string]CodeInfo{
	// WeChat Pay v2 付款码支付 (micropay) and 查询订单 (orderquery).
	"SYSTEMERROR":       wx(ClassUnknown, reasonBusy, srcWxMicropay),
	"BANKERROR":         wx(ClassUnknown, "银行系统异常", srcWxMicropay),
	"USERPAYING":        wx(ClassUnknown, reasonTimeout, srcWxMicropay),
	"ORDERPAID":         wx(ClassOrderPaid, reasonPaid, srcWxMicropay),
	"OUT_TRADE_NO_USED": wx(ClassNumberUsed, reasonDuplicate, srcWxMicropay),
	// 暂不支持同一笔订单更换支付方: an earlier submit under this number had
	// another payer's code; that attempt, not this one, owns the number.
	"BUYER_MISMATCH":        wx(ClassNumberUsed, reasonPayer, srcWxMicropay),
	"AUTHCODEEXPIRE":        wx(ClassDefinite, "付款码已过期", srcWxMicropay),
	"NOTENOUGH":             wx(ClassDefinite, reasonNotEnough, srcWxMicropay),
	"NOTSUPORTCARD":         wx(ClassDefinite, "不支持此卡", srcWxMicropay),
	"ORDERCLOSED":           wx(ClassDefinite, reasonClosed, srcWxMicropay),
	"ORDERREVERSED":         wx(ClassDefinite, "订单已撤销", srcWxMicropay),
	"AUTH_CODE_ERROR":       wx(ClassDefinite, reasonCodeBad, srcWxMicropay),
	"AUTH_CODE_INVALID":     wx(ClassDefinite, reasonCodeBad, srcWxMicropay),
	"NOAUTH":                wx(ClassDefinite, reasonNoAuth, srcWxMicropay),
	"PARAM_ERROR":           wx(ClassDefinite, reasonParam, srcWxMicropay),
	"XML_FORMAT_ERROR":      wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"REQUIRE_POST_METHOD":   wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"SIGNERROR":             wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"LACK_PARAMS":           wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"NOT_UTF8":              wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"APPID_NOT_EXIST":       wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"MCHID_NOT_EXIST":       wx(ClassDefinite, reasonConfig, srcWxMicropay),
	"APPID_MCHID_NOT_MATCH": wx(ClassDefinite, reasonConfig, srcWxMicropay),
	// 业务错误导致交易失败、用户账号异常、风控、规则限制等: a decline.
	"TRADE_ERROR":     wx(ClassDefinite, "交易受限", srcWxMicropayNew),
	"INVALID_REQUEST": wx(ClassDefinite, reasonInvalid, srcWxMicropayNew),
	// 此交易订单号不存在 (orderquery): "该API只能查提交支付交易返回成功的订单".
	"ORDERNOTEXIST": wx(ClassNotFound, reasonNotFound, srcWxOrderQuery),

	// The platform's own.
	"DUPLICATE_CONTENT": plat(ClassNumberUsed, reasonDuplicate, srcPlatform),
	"ACCOUNTERROR":      plat(ClassDefinite, "账户异常", srcPlatform+"; no WeChat Pay or Alipay document naming it was found"),

	// Alipay gateway codes, should a platform forward them raw: 10003 is
	// WAIT_BUYER_PAY (the customer confirming), 20000 a system error.
	"10003": ali(ClassUnknown, reasonTimeout, srcAliGateway),
	"20000": ali(ClassUnknown, reasonBusy, srcAliGateway),

	// Alipay alipay.trade.pay / alipay.trade.query sub_code (code 40004).
	// "系统异常错误下该笔交易可能成功也可能失败，请调用查询订单API".
	"ACQ.SYSTEM_ERROR":      ali(ClassUnknown, reasonBusy, srcAliSub),
	"ACQ.TRADE_HAS_SUCCESS": ali(ClassOrderPaid, reasonPaid, srcAliSub),
	// 商户订单号已经创建交易成功，且本次请求的交易关键信息…与已存交易的信息不一致.
	"ACQ.CONTEXT_INCONSISTENT":  ali(ClassNumberUsed, reasonDuplicate, srcAliSub),
	"ACQ.TRADE_BUYER_NOT_MATCH": ali(ClassNumberUsed, reasonPayer, srcAliSub),
	// Alipay has no separate expiry code: 付款码无效 covers 过期 and 已使用.
	"ACQ.PAYMENT_AUTH_CODE_INVALID":              ali(ClassDefinite, reasonCodeBad, srcAliSub),
	"ACQ.BUYER_BALANCE_NOT_ENOUGH":               ali(ClassDefinite, reasonNotEnough, srcAliSub),
	"ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH":      ali(ClassDefinite, reasonNotEnough, srcAliSub),
	"ACQ.TRADE_HAS_CLOSE":                        ali(ClassDefinite, reasonClosed, srcAliSub),
	"ACQ.PAYMENT_FAIL":                           ali(ClassDefinite, reasonRescan, srcAliSub),
	"ACQ.PULL_MOBILE_CASHIER_FAIL":               ali(ClassDefinite, reasonRescan, srcAliSub),
	"ACQ.PAYMENT_REQUEST_HAS_RISK":               ali(ClassDefinite, "支付有风险", srcAliSub),
	"ACQ.BUYER_ENABLE_STATUS_FORBID":             ali(ClassDefinite, "买家状态异常", srcAliSub),
	"ACQ.NOT_CERTIFIED_USER":                     ali(ClassDefinite, "买家未实名", srcAliSub),
	"ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR":   ali(ClassDefinite, reasonPayerLimit, srcAliSub),
	"ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR": ali(ClassDefinite, reasonPayerLimit, srcAliSub),
	"ACQ.ERROR_BALANCE_PAYMENT_DISABLE":          ali(ClassDefinite, "余额支付已关闭", srcAliSub),
	"ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE":       ali(ClassDefinite, "无可用支付方式", srcAliSub),
	"ACQ.USER_FACE_PAYMENT_SWITCH_OFF":           ali(ClassDefinite, "付款开关已关闭", srcAliSub),
	"ACQ.MOBILE_PAYMENT_SWITCH_OFF":              ali(ClassDefinite, "付款开关已关闭", srcAliSub),
	"ACQ.BUYER_SELLER_EQUAL":                     ali(ClassDefinite, "买卖家相同", srcAliSub),
	"ACQ.BEYOND_PAY_RESTRICTION":                 ali(ClassDefinite, reasonOverLimit, srcAliSub),
	"ACQ.BEYOND_PER_RECEIPT_SINGLE_RESTRICTION":  ali(ClassDefinite, reasonOverLimit, srcAliSub),
	"ACQ.BEYOND_PER_RECEIPT_DAY_RESTRICTION":     ali(ClassDefinite, reasonOverLimit, srcAliSub),
	"ACQ.BEYOND_PER_RECEIPT_RESTRICTION":         ali(ClassDefinite, reasonOverLimit, srcAliSub),
	"ACQ.MERCHANT_PERM_RECEIPT_SINGLE_LIMIT":     ali(ClassDefinite, reasonOverLimit, srcAliSub),
	"ACQ.MERCHANT_PERM_RECEIPT_DAY_LIMIT":        ali(ClassDefinite, reasonOverLimit, srcAliSub),
	"ACQ.MERCHANT_PERM_RECEIPT_SUSPEND_LIMIT":    ali(ClassDefinite, "商户暂停收款", srcAliSub),
	"ACQ.TOTAL_FEE_EXCEED":                       ali(ClassDefinite, "金额超过限额", srcAliSub),
	"ACQ.SELLER_BEEN_BLOCKED":                    ali(ClassDefinite, "商户账户冻结", srcAliSub),
	"ACQ.MERCHANT_STATUS_NOT_NORMAL":             ali(ClassDefinite, "商户状态异常", srcAliSub),
	"ACQ.ACCESS_FORBIDDEN":                       ali(ClassDefinite, reasonNoAuth, srcAliSub),
	"ACQ.INVALID_PARAMETER":                      ali(ClassDefinite, reasonParam, srcAliSub),
	"ACQ.TRADE_NOT_EXIST":                        ali(ClassNotFound, reasonNotFound, srcAliQuery),

	// Alipay 资金授权 (fund.auth) codes carry no ACQ. prefix.
	"SYSTEM_ERROR":         ali(ClassUnknown, reasonBusy, srcAliFund),
	"AUTH_ORDER_NOT_EXIST": ali(ClassNotFound, reasonNotFound, srcAliFund),
}

// ReverseCodes are the answers to pay.reverse: WeChat 撤销订单
// (secapi/pay/reverse, deposit/reverse) and Alipay alipay.trade.cancel. The
// answer's recall (WeChat recall=Y, Alipay retry_flag=Y) asks for the same
// reverse again whatever the code; these classes matter when it does not.
var ReverseCodes = map[string]CodeInfo{
	// WeChat Pay v2 撤销订单.
	"SYSTEMERROR": wx(ClassUnknown, reasonBusy, srcWxReverse),
	// 订单有7天的撤销有效期，过期将不能撤销: refund a charged order instead.
	"REVERSE_EXPIRE": wx(ClassReverseFinal, reasonReverseOld, srcWxReverse),
	// 订单错误, 业务错误导致交易失败: the reverse will not go through.
	"TRADE_ERROR":           wx(ClassReverseFinal, reasonNoReverse, srcWxReverse),
	"INVALID_REQUEST":       wx(ClassReverseFinal, reasonInvalid, srcWxReverse),
	"INVALID_TRANSACTIONID": wx(ClassReverseFinal, reasonParam, srcWxReverse),
	"PARAM_ERROR":           wx(ClassReverseFinal, reasonParam, srcWxReverse),
	"SIGNERROR":             wx(ClassReverseFinal, reasonConfig, srcWxReverse),
	"REQUIRE_POST_METHOD":   wx(ClassReverseFinal, reasonConfig, srcWxReverse),
	"ORDERNOTEXIST":         wx(ClassNotFound, reasonNotFound, srcWxOrderQuery),

	// The platform's own: never reverse a number another request owns.
	"DUPLICATE_CONTENT": plat(ClassNumberUsed, reasonDuplicate, srcPlatform),

	// Alipay alipay.trade.cancel.
	"ACQ.SYSTEM_ERROR": ali(ClassUnknown, reasonBusy, srcAliCancel),
	// Listed so in Alipay's table ("系统错误 请使用相同的参数再次调用").
	"AQC.SYSTEM_ERROR": ali(ClassUnknown, reasonBusy, srcAliCancel),
	// 交易超过了撤销的时间范围，可使用退款接口发起交易退款.
	"ACQ.TRADE_CANCEL_TIME_OUT":     ali(ClassReverseFinal, reasonReverseOld, srcAliCancel),
	"ACQ.CANCEL_NOT_ALLOWED":        ali(ClassReverseFinal, reasonNoReverse, srcAliCancel),
	"ACQ.REASON_TRADE_BEEN_FREEZEN": ali(ClassReverseFinal, reasonFrozen, srcAliCancel),
	// 已经退款场景下不能再发起撤销.
	"ACQ.REASON_TRADE_REFUND_FEE_ERR": ali(ClassReverseFinal, "订单已退款", srcAliCancel),
	"ACQ.TRADE_HAS_FINISHED":          ali(ClassReverseFinal, reasonFinished, srcAliCancel),
	"ACQ.INVALID_PARAMETER":           ali(ClassReverseFinal, reasonParam, srcAliCancel),
	// 商户支付宝账户充值后重新发起撤销即可: the same reverse succeeds once the
	// merchant's account is topped up.
	"ACQ.SELLER_BALANCE_NOT_ENOUGH": ali(ClassRetry, reasonMerchantNE, srcAliCancel),
	"ACQ.TRADE_NOT_EXIST":           ali(ClassNotFound, reasonNotFound, srcAliQuery),
}

// RefundCodes are the answers to refund.request and refund.query: WeChat
// 申请退款 / 查询退款 (and 申请退款(押金)), Alipay alipay.trade.refund /
// alipay.trade.fastpay.refund.query. A refund's progress (WeChat refund_status
// SUCCESS, PROCESSING, REFUNDCLOSE, CHANGE) is a state, not a code: see
// docs/provider-codes.md.
var RefundCodes = map[string]CodeInfo{
	// WeChat Pay v2 申请退款: "请不要更换商户退款单号，请使用相同参数再次调用API".
	"SYSTEMERROR":       wx(ClassUnknown, reasonBusy, srcWxRefund),
	"BIZERR_NEED_RETRY": wx(ClassRetry, reasonBusy, srcWxRefund),
	// 2个月之前的订单申请退款有频率限制: 该笔退款未受理，请降低频率后重试.
	"FREQUENCY_LIMITED": wx(ClassRetry, reasonBusy, srcWxRefund),
	// 连续错误请求数过多被系统短暂屏蔽: retry after a minute.
	"INVALID_REQ_TOO_MUCH": wx(ClassRetry, reasonBusy, srcWxRefund),
	"ORDER_NOT_READY":      wx(ClassRetry, "订单处理中", srcWxRefundJS),
	// 订单已经超过可退款的最大期限(支付后一年内可退款).
	"TRADE_OVERDUE": wx(ClassDefinite, "已过退款期限", srcWxRefund),
	// 商户可用退款余额不足: the merchant's balance, not the customer's.
	"NOTENOUGH":             wx(ClassDefinite, reasonMerchantNE, srcWxRefund),
	"USER_ACCOUNT_ABNORMAL": wx(ClassDefinite, "用户账户异常", srcWxRefund),
	"ERROR":                 wx(ClassDefinite, "业务错误", srcWxRefund),
	"INVALID_TRANSACTIONID": wx(ClassDefinite, reasonParam, srcWxRefund),
	"PARAM_ERROR":           wx(ClassDefinite, reasonParam, srcWxRefund),
	"INVALID_REQUEST":       wx(ClassDefinite, reasonInvalid, srcWxRefundJS),
	"SIGNERROR":             wx(ClassDefinite, reasonConfig, srcWxRefund),
	"XML_FORMAT_ERROR":      wx(ClassDefinite, reasonConfig, srcWxRefund),
	"APPID_NOT_EXIST":       wx(ClassDefinite, reasonConfig, srcWxRefund),
	"MCHID_NOT_EXIST":       wx(ClassDefinite, reasonConfig, srcWxRefund),
	// 请检查你的订单号是否正确且是否已支付，未支付的订单不能发起退款.
	"ORDERNOTEXIST": wx(ClassNotFound, reasonNotFound, srcWxRefund),
	// 查询退款: 退款订单查询失败.
	"REFUNDNOTEXIST": wx(ClassNotFound, "未找到退款", srcWxRefundQuery),
	// 订单金额或退款金额与之前请求不一致: the refund number is an earlier
	// request's.
	"REFUND_FEE_MISMATCH": wx(ClassNumberUsed, reasonRefundNo, srcWxRefundJS),

	// The platform's own.
	"DUPLICATE_CONTENT":      plat(ClassNumberUsed, reasonRefundNo, srcPlatform),
	"REFUND_AMOUNT_EXCEEDED": plat(ClassDefinite, reasonRefundAmt, srcPlatform),
	"TRADE_STATE_ERROR":      plat(ClassDefinite, reasonState, srcPlatform),

	// Alipay alipay.trade.refund / alipay.trade.fastpay.refund.query.
	"ACQ.SYSTEM_ERROR":                ali(ClassUnknown, reasonBusy, srcAliRefund),
	"ACQ.SELLER_BALANCE_NOT_ENOUGH":   ali(ClassDefinite, reasonMerchantNE, srcAliRefund),
	"ACQ.REFUND_AMT_NOT_EQUAL_TOTAL":  ali(ClassDefinite, reasonRefundAmt, srcAliRefund),
	"ACQ.REASON_TRADE_REFUND_FEE_ERR": ali(ClassDefinite, reasonRefundBad, srcAliRefund),
	"ACQ.REFUND_FEE_ERROR":            ali(ClassDefinite, reasonRefundBad, srcAliRefund),
	"ACQ.REASON_TRADE_BEEN_FREEZEN":   ali(ClassDefinite, reasonFrozen, srcAliRefund),
	"ACQ.TRADE_HAS_FINISHED":          ali(ClassDefinite, reasonFinished, srcAliRefund),
	"ACQ.TRADE_STATUS_ERROR":          ali(ClassDefinite, reasonState, srcAliRefund),
	"ACQ.REASON_TRADE_STATUS_INVALID": ali(ClassDefinite, reasonState, srcAliRefund),
	// 检查当前交易的状态…以及签约的退款属性是否允许退款 (the refund window
	// is the merchant's contract).
	"ACQ.TRADE_NOT_ALLOW_REFUND":                ali(ClassDefinite, reasonNoRefund, srcAliRefund),
	"ACQ.ONLINE_TRADE_VOUCHER_NOT_ALLOW_REFUND": ali(ClassDefinite, reasonNoRefund, srcAliRefund),
	"ACQ.NOT_ALLOW_PARTIAL_REFUND":              ali(ClassDefinite, "不支持部分退款", srcAliRefund),
	"ACQ.BUYER_ERROR":                           ali(ClassDefinite, "买家状态异常", srcAliRefund),
	"ACQ.CUSTOMER_VALIDATE_ERROR":               ali(ClassDefinite, "买家账户异常", srcAliRefund),
	"ACQ.INVALID_PARAMETER":                     ali(ClassDefinite, reasonParam, srcAliRefund),
	// 请过一段时间后再重试发起退款.
	"ACQ.REFUND_CHARGE_ERROR": ali(ClassRetry, reasonBusy, srcAliRefund),
	// 退款请求号对应的退款已经执行成功，且本次请求的退款金额与之前请求的金额不一致.
	"ACQ.DISCORDANT_REPEAT_REQUEST": ali(ClassNumberUsed, reasonRefundNo, srcAliRefund),
	"ACQ.TRADE_NOT_EXIST":           ali(ClassNotFound, reasonNotFound, srcAliRefund),
}

// DepositCodes are the answers to deposit.consume and deposit.unfreeze
// (WeChat 押金 consume, Alipay alipay.trade.pay with auth_no and
// alipay.fund.auth.order.unfreeze). A consume is a charge of frozen money:
// ACQ.TRADE_HAS_SUCCESS means an earlier consume under this number did it.
var DepositCodes = map[string]CodeInfo{
	// The platform's own, for any wallet.
	"ORDER_FINISHED":    plat(ClassDefinite, reasonDepDone, srcPlatform),
	"ORDER_NOT_FROZEN":  plat(ClassDefinite, "押金未冻结", srcPlatform),
	"AMOUNT_EXCEEDED":   plat(ClassDefinite, reasonDepOver, srcPlatform),
	"NOT_DEPOSIT":       plat(ClassDefinite, "非押金订单", srcPlatform),
	"DUPLICATE_CONTENT": plat(ClassNumberUsed, reasonDuplicate, srcPlatform),

	// WeChat Pay 押金.
	"SYSTEMERROR":     wx(ClassUnknown, reasonBusy, srcWxDeposit),
	"PARAM_ERROR":     wx(ClassDefinite, reasonParam, srcWxDeposit),
	"INVALID_REQUEST": wx(ClassDefinite, reasonInvalid, srcWxDeposit),
	"ORDERNOTEXIST":   wx(ClassNotFound, reasonNotFound, srcWxDepositNF),

	// Alipay 预授权转支付 (alipay.trade.pay with auth_no).
	"ACQ.SYSTEM_ERROR":         ali(ClassUnknown, reasonBusy, srcAliAuthPay),
	"ACQ.TRADE_HAS_SUCCESS":    ali(ClassOrderPaid, reasonPaid, srcAliAuthPay),
	"ACQ.CONTEXT_INCONSISTENT": ali(ClassNumberUsed, reasonDuplicate, srcAliAuthPay),
	// 预授权订单已撤销、解冻或未支付超时关闭.
	"ACQ.AUTH_ORDER_HAS_CLOSED": ali(ClassDefinite, "押金已解冻", srcAliAuthPay),
	// 预授权订单已经转交易支付成功.
	"ACQ.AUTH_ORDER_HAS_FINISHED":         ali(ClassDefinite, reasonDepDone, srcAliAuthPay),
	"ACQ.AUTH_ORDER_NOT_PAID":             ali(ClassDefinite, "押金未冻结", srcAliAuthPay),
	"ACQ.AUTH_AMOUNT_NOT_ENOUGH":          ali(ClassDefinite, reasonDepOver, srcAliAuthPay),
	"ACQ.REQUEST_AMOUNT_EXCEED":           ali(ClassDefinite, reasonDepOver, srcAliAuthPay),
	"ACQ.AUTH_NO_ERROR":                   ali(ClassDefinite, "押金单号错误", srcAliAuthPay),
	"ACQ.PRE_AUTH_PROD_CODE_INCONSISTENT": ali(ClassDefinite, reasonConfig, srcAliAuthPay),
	"ACQ.INVALID_PARAMETER":               ali(ClassDefinite, reasonParam, srcAliAuthPay),

	// Alipay alipay.fund.auth.order.unfreeze.
	"SYSTEM_ERROR":         ali(ClassUnknown, reasonBusy, srcAliFund),
	"ILLEGAL_ARGUMENT":     ali(ClassDefinite, reasonParam, srcAliFund),
	"AUTH_ORDER_NOT_EXIST": ali(ClassNotFound, reasonNotFound, srcAliFund),
}

func classify(table map[string]CodeInfo, code string) (CodeInfo, bool) {
	info, ok := table[strings.ToUpper(code)]
	return info, ok
}

// ClassifyPay looks code up in PayCodes (upper-cased, then exactly).
func ClassifyPay(code string) (CodeInfo, bool) { return classify(PayCodes, code) }

// ClassifyReverse looks code up in ReverseCodes (upper-cased, then exactly).
func ClassifyReverse(code string) (CodeInfo, bool) { return classify(ReverseCodes, code) }

// ClassifyRefund looks code up in RefundCodes (upper-cased, then exactly).
func ClassifyRefund(code string) (CodeInfo, bool) { return classify(RefundCodes, code) }

// ClassifyDeposit looks code up in DepositCodes (upper-cased, then exactly).
func ClassifyDeposit(code string) (CodeInfo, bool) { return classify(DepositCodes, code) }
