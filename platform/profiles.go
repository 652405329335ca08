package platform

import "strings"

// Wallet profiles: the same outcome is told in the words of the provider
// that handles the order's wallet, as a platform in front of WeChat Pay and
// Alipay passes them on. A device that only knows one provider's codes
// meets the other's here before it meets them in a shop.
//
// Where the codes come from (each table below names its source again):
//
//   - WeChat Pay v2 付款码支付 (micropay) err_code table, with the advice
//     "当返回结果为“系统错误”时 … 调用【查询订单API】 … USERPAYING … 重新查询":
//     https://pay.weixin.qq.com/doc/v2/merchant/4011937125
//     (old address https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_10&index=1;
//     English: https://pay.weixin.qq.com/wiki/doc/api/wxpay/en/pay/QuickPay/chapter3_3.shtml)
//   - WeChat Pay v2 撤销订单 (reverse): REVERSE_EXPIRE, recall; "This API can be
//     called to cancel a transaction made within 7 days after an order is
//     created": https://pay.weixin.qq.com/wiki/doc/api/wxpay/en/pay/QuickPay/chapter3_4.shtml
//     (https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_11&index=3)
//   - WeChat Pay v2 申请退款 (refund): TRADE_OVERDUE, SYSTEMERROR, ORDERNOTEXIST,
//     INVALID_REQUEST; "Orders placed over one year ago are not eligible for
//     refund", "up to 50 times", "If a refund fails, please resubmit it without
//     changing the refund number":
//     https://pay.weixin.qq.com/wiki/doc/api_external/en/apis/chapter3_3_3.shtml
//     (https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_4&index=5)
//   - WeChat Pay v2 查询退款 (refundquery): refund_status SUCCESS, REFUNDCLOSE,
//     PROCESSING, CHANGE (退款异常); err_code REFUNDNOTEXIST:
//     https://pay.weixin.qq.com/wiki/doc/api/wxpay/en/pay/QuickPay/chapter8_5.shtml
//     (https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=9_5&index=6)
//   - WeChat Pay 押金 (deposit): micropay "当押金超过一个月未进行处理，会自动执行退款"
//     https://pay.weixin.qq.com/doc/v2/partner/4011986623, consume
//     https://pay.weixin.qq.com/doc/v2/partner/4011986801, refund (50 times, one
//     year) https://pay.weixin.qq.com/doc/v2/partner/4011987251
//   - Alipay alipay.trade.pay (当面付 条码支付): 10000 success, 10003 WAIT_BUYER_PAY,
//     20000 / ACQ.SYSTEM_ERROR unknown (query), 40004 with sub_code
//     ACQ.BUYER_BALANCE_NOT_ENOUGH, ACQ.PAYMENT_AUTH_CODE_INVALID,
//     ACQ.TRADE_HAS_SUCCESS, ACQ.CONTEXT_INCONSISTENT, ACQ.TRADE_HAS_CLOSE,
//     ACQ.PAYMENT_FAIL: https://docs.open.alipay.com/api_1/alipay.trade.pay
//     (the sub_code table is also at https://zhifubao.apifox.cn/api-126427173)
//   - Alipay alipay.trade.cancel: ACQ.TRADE_CANCEL_TIME_OUT "交易超过了撤销的时间范围，
//     可使用退款接口发起交易退款", retry_flag:
//     https://docs.open.alipay.com/api_1/alipay.trade.cancel
//     (table at https://www.apifox.cn/apidoc/docs-site/3618910/api-126370346)
//   - Alipay alipay.trade.refund: ACQ.TRADE_NOT_ALLOW_REFUND, ACQ.TRADE_STATUS_ERROR,
//     ACQ.REASON_TRADE_REFUND_FEE_ERR, ACQ.DISCORDANT_REPEAT_REQUEST, ACQ.TRADE_NOT_EXIST;
//     "交易超过约定时间(签约时设置的可退款时间)的订单无法进行退款":
//     https://docs.open.alipay.com/api_1/alipay.trade.refund
//     (https://zhifubao.apifox.cn/doc-3290173)
//   - Alipay alipay.trade.fastpay.refund.query: "如果没有查询到则代表未退款成功":
//     https://docs.open.alipay.com/api_1/alipay.trade.fastpay.refund.query
//   - Alipay 资金授权 (fund.auth; consume is alipay.trade.pay with auth_no):
//     ACQ.AUTH_ORDER_HAS_CLOSED "预授权订单已撤销、解冻或未支付超时关闭",
//     ACQ.AUTH_ORDER_HAS_FINISHED, ACQ.AUTH_ORDER_NOT_PAID, ACQ.AUTH_AMOUNT_NOT_ENOUGH:
//     unfreeze https://docs.open.alipay.com/20180417160701241302/vy70oy/,
//     转支付 ACQ.AUTH_AMOUNT_NOT_ENOUGH https://developer.aliyun.com/ask/285619; the
//     sub_codes as one list: github.com/Bishoptylaor/paypay alipay/utils BussErrorCodeMap)

// profile is the provider whose words an order's answers use.
type profile int

const (
	profileOther  profile = iota // any other wallet: the platform's own codes (today's)
	profileWeChat                // WeChat Pay v2 err_code
	profileAlipay                // Alipay sub_code (ACQ.*)
)

func profileOf(wallet string) profile {
	switch strings.ToLower(wallet) {
	case "wechat":
		return profileWeChat
	case "alipay":
		return profileAlipay
	}
	return profileOther
}

// answer is what a provider says: the wire state it maps to, its code and
// its message.
type answer struct{ state, code, msg string }

// byWallet is one answer per profile.
type byWallet struct{ other, wechat, alipay answer }

func (b byWallet) of(wallet string) answer {
	switch profileOf(wallet) {
	case profileWeChat:
		return b.wechat
	case profileAlipay:
		return b.alipay
	}
	return b.other
}

// same is one answer for every profile.
func same(a answer) byWallet { return byWallet{a, a, a} }

// submitAnswers is what pay.submit answers first, by outcome and profile.
// For wallet "wechat" and any other wallet it is today's amount table, so
// the outcomes keep their meaning (NOTENOUGH, AUTHCODEEXPIRE, SYSTEMERROR,
// ORDERPAID are WeChat's own micropay codes; DUPLICATE_CONTENT, the
// sandbox-style case .08, stays as it was for both). Alipay's are its
// alipay.trade.pay answers mapped to wire states as a platform does:
// 10003 WAIT_BUYER_PAY → USERPAYING, 20000 ACQ.SYSTEM_ERROR → UNKNOWN, a
// 40004 decline → FAILED with the sub_code, TRADE_SUCCESS → SUCCESS.
var submitAnswers = map[Outcome]byWallet{
	OutcomeSuccess:           same(answer{StateSuccess, "", ""}),
	OutcomePayingThenSuccess: same(answer{StateUserPaying, "", msgUserPaying}),
	OutcomePayingForever:     same(answer{StateUserPaying, "", msgUserPaying}),
	OutcomeRecall:            same(answer{StateUserPaying, "", msgUserPaying}),
	OutcomePayingThenCancel:  same(answer{StateUserPaying, "", msgUserPaying}),
	OutcomePayError: {
		other:  answer{StatePayError, ErrTradeError, "支付失败"},
		wechat: answer{StatePayError, ErrTradeError, "支付失败"},
		// ACQ.PAYMENT_FAIL "支付失败": the trade may exist; the platform keeps
		// PAYERROR so the device closes it by reverse (alipay.trade.cancel).
		alipay: answer{StatePayError, AliPaymentFail, "支付失败"},
	},
	OutcomeNotEnough: {
		other:  answer{StateFailed, ErrNotEnough, "余额不足"},
		wechat: answer{StateFailed, ErrNotEnough, "余额不足"},
		alipay: answer{StateFailed, AliBuyerBalanceNotEnough, "买家余额不足"},
	},
	OutcomeAuthCodeExpire: {
		other:  answer{StateFailed, ErrAuthCodeExpire, "付款码已过期"},
		wechat: answer{StateFailed, ErrAuthCodeExpire, "付款码已过期"},
		// Alipay has no separate expiry code: ACQ.PAYMENT_AUTH_CODE_INVALID
		// covers "付款码是否过期".
		alipay: answer{StateFailed, AliPaymentAuthCodeInvalid, "付款码无效"},
	},
	OutcomeAuthCodeInvalid: {
		other:  answer{StateFailed, ErrAuthCodeInvalid, "付款码无效"},
		wechat: answer{StateFailed, ErrAuthCodeInvalid, "付款码无效"},
		alipay: answer{StateFailed, AliPaymentAuthCodeInvalid, "付款码无效"},
	},
	OutcomeSystemError:      systemErrorAnswer,
	OutcomeQuerySystemError: systemErrorAnswer,
	OutcomeOrderPaid:        orderPaidAnswer,
	OutcomeDuplicateContent: {
		other:  answer{StateUserPaying, ErrDuplicateContent, msgDuplicate},
		wechat: answer{StateUserPaying, ErrDuplicateContent, msgDuplicate},
		alipay: answer{StateUserPaying, AliContextInconsistent, "交易信息被篡改"},
	},
	OutcomeReverseExpire: same(answer{StateSuccess, "", ""}),
}

const (
	msgUserPaying = "需要用户输入支付密码"
	msgDuplicate  = "同一商户订单号的请求内容不同"
)

// systemErrorAnswer: the provider's answer gave no trade state (WeChat
// SYSTEMERROR "系统超时", Alipay 20000 ACQ.SYSTEM_ERROR "系统异常"): only a
// query tells.
var systemErrorAnswer = byWallet{
	other:  answer{StateUnknown, ErrSystemError, "系统超时"},
	wechat: answer{StateUnknown, ErrSystemError, "系统超时"},
	alipay: answer{StateUnknown, AliSystemError, "系统异常"},
}

// orderPaidAnswer: a submit of an order already paid (WeChat ORDERPAID
// "商户订单已支付，无需重复操作", Alipay ACQ.TRADE_HAS_SUCCESS "交易已被支付").
// It is a failed request, so it carries no trade state or transaction id:
// the device learns the payment by query.
var orderPaidAnswer = byWallet{
	other:  answer{StateUnknown, ErrOrderPaid, "订单已支付"},
	wechat: answer{StateUnknown, ErrOrderPaid, "订单已支付"},
	alipay: answer{StateUnknown, AliTradeHasSuccess, "交易已被支付"},
}

// Answers to other requests, by profile.
var (
	// Same out_trade_no, other content: WeChat OUT_TRADE_NO_USED "商户订单号重复",
	// Alipay ACQ.CONTEXT_INCONSISTENT; the platform's own DUPLICATE_CONTENT
	// for any other wallet.
	duplicateAnswer = byWallet{
		other:  answer{"", ErrDuplicateContent, msgDuplicate},
		wechat: answer{"", ErrOutTradeNoUsed, "商户订单号重复"},
		alipay: answer{"", AliContextInconsistent, "交易信息被篡改"},
	}
	// Submit of a reversed (or reverse-tombstoned) order: WeChat ORDERREVERSED,
	// Alipay ACQ.TRADE_HAS_CLOSE (a cancelled trade is closed).
	reversedAnswer = byWallet{
		other:  answer{StateRevoked, ErrOrderReversed, "订单已撤销"},
		wechat: answer{StateRevoked, ErrOrderReversed, "订单已撤销"},
		alipay: answer{StateRevoked, AliTradeHasClose, "交易已经关闭"},
	}
	// Submit of an order the customer closed: WeChat ORDERCLOSED, Alipay
	// ACQ.TRADE_HAS_CLOSE.
	closedAnswer = byWallet{
		other:  answer{StateClosed, "", "订单已关闭"},
		wechat: answer{StateClosed, ErrOrderClosed, "订单已关闭"},
		alipay: answer{StateClosed, AliTradeHasClose, "交易已经关闭"},
	}
	// A customer who cancels on the phone: WeChat trade_state CLOSED, Alipay
	// trade_status TRADE_CLOSED, both CLOSED on the wire with no code.
	cancelledAnswer = same(answer{StateClosed, "", "用户已取消支付"})
	// A reverse past the provider's window: WeChat REVERSE_EXPIRE, Alipay
	// ACQ.TRADE_CANCEL_TIME_OUT. Nothing changes: a charged order stays
	// charged and is to be refunded instead.
	reverseExpireAnswer = byWallet{
		other:  answer{"", ErrReverseExpire, "订单已超过撤销期限，请使用退款"},
		wechat: answer{"", ErrReverseExpire, "订单已超过撤销期限，请使用退款"},
		alipay: answer{"", AliTradeCancelTimeOut, "超过撤销时间范围"},
	}
	// A reverse that did not take and must be sent again (recall:true;
	// Alipay retry_flag Y).
	recallAnswer = byWallet{
		other:  answer{"", ErrSystemError, "撤销未完成，请重试"},
		wechat: answer{"", ErrSystemError, "撤销未完成，请重试"},
		alipay: answer{"", AliSystemError, "撤销未完成，请重试"},
	}
	// A query whose answer is a system error (OutcomeQuerySystemError).
	querySystemErrorAnswer = systemErrorAnswer
)

// Refund answers, by profile. WeChat's own words where its refund table has
// one; the platform's TRADE_STATE_ERROR and REFUND_AMOUNT_EXCEEDED (which
// the device already knows) stand for WeChat, whose v2 refund table has no
// specific code for them (it answers a generic INVALID_REQUEST / ERROR).
var (
	refundNotExist = byWallet{
		other:  answer{RefundFail, ErrOrderNotExist, "订单不存在"},
		wechat: answer{RefundFail, ErrOrderNotExist, "订单不存在"},
		alipay: answer{RefundFail, AliTradeNotExist, "交易不存在"},
	}
	refundStateError = byWallet{
		other:  answer{RefundFail, ErrTradeStateError, "订单未支付或已撤销"},
		wechat: answer{RefundFail, ErrTradeStateError, "订单未支付或已撤销"},
		alipay: answer{RefundFail, AliTradeStatusError, "交易状态非法"},
	}
	refundFrozenDeposit = byWallet{
		other:  answer{RefundFail, ErrTradeStateError, "押金未消费，不能退款（冻结的押金请解冻）"},
		wechat: answer{RefundFail, ErrTradeStateError, "押金未消费，不能退款（冻结的押金请解冻）"},
		alipay: answer{RefundFail, AliTradeStatusError, "交易状态非法：预授权未转支付"},
	}
	refundExceeded = byWallet{
		other:  answer{RefundFail, ErrRefundExceeded, ""},
		wechat: answer{RefundFail, ErrRefundExceeded, ""},
		alipay: answer{RefundFail, AliRefundFeeErr, ""},
	}
	refundOverdue = byWallet{
		other:  answer{RefundFail, ErrTradeOverdue, "订单已经超过退款期限"},
		wechat: answer{RefundFail, ErrTradeOverdue, "订单已经超过退款期限"},
		alipay: answer{RefundFail, AliTradeNotAllowRefund, "当前交易不允许退款：已超过可退款时间"},
	}
	refundTooMany = byWallet{
		other:  answer{RefundFail, ErrInvalidRequest, "每个支付订单的部分退款次数不能超过50次"},
		wechat: answer{RefundFail, ErrInvalidRequest, "每个支付订单的部分退款次数不能超过50次"},
		alipay: answer{RefundFail, AliTradeNotAllowRefund, "当前交易不允许退款：退款次数超限"},
	}
	// Same out_refund_no, other order or amount: WeChat "订单金额或退款金额与
	// 之前请求不一致" (INVALID_REQUEST), Alipay ACQ.DISCORDANT_REPEAT_REQUEST.
	refundDiscordant = byWallet{
		other:  answer{RefundFail, ErrInvalidRequest, "订单金额或退款金额与之前请求不一致"},
		wechat: answer{RefundFail, ErrInvalidRequest, "订单金额或退款金额与之前请求不一致"},
		alipay: answer{RefundFail, AliDiscordantRepeat, "不一致的请求"},
	}
	// The refund was made but the answer says a system error (WeChat
	// SYSTEMERROR "系统超时，请用相同参数再次调用", Alipay ACQ.SYSTEM_ERROR).
	refundSystemError = byWallet{
		other:  answer{RefundFail, ErrSystemError, "系统超时，请用相同参数再次调用"},
		wechat: answer{RefundFail, ErrSystemError, "系统超时，请用相同参数再次调用"},
		alipay: answer{RefundFail, AliSystemError, "系统异常，请使用相同的参数再次调用"},
	}
	// refund.query of an out_refund_no never accepted: WeChat REFUNDNOTEXIST;
	// Alipay answers an empty result ("没有查询到则代表未退款成功"), which the
	// platform passes on the same way.
	refundQueryNotFound = same(answer{StateNotFound, ErrRefundNotExist, "退款订单查询失败"})
)

// Deposit answers, by profile: the platform's codes (today's) for WeChat and
// others; Alipay's 资金授权 sub_codes of alipay.trade.pay with auth_no.
var (
	depositNotExist = byWallet{
		other:  answer{RefundFail, ErrOrderNotExist, "订单不存在"},
		wechat: answer{RefundFail, ErrOrderNotExist, "订单不存在"},
		alipay: answer{RefundFail, ErrOrderNotExist, "订单不存在"},
	}
	depositConsumedAlready = byWallet{
		other:  answer{RefundFail, ErrFinished, "押金已完结"},
		wechat: answer{RefundFail, ErrFinished, "押金已完结"},
		alipay: answer{RefundFail, AliAuthOrderHasFinished, "预授权订单已经完结"},
	}
	depositReleasedAlready = byWallet{
		other:  answer{RefundFail, ErrFinished, "押金已完结"},
		wechat: answer{RefundFail, ErrFinished, "押金已完结"},
		alipay: answer{RefundFail, AliAuthOrderHasClosed, "预授权订单已关闭"},
	}
	depositNotFrozen = byWallet{
		other:  answer{RefundFail, ErrNotFrozen, "押金未冻结"},
		wechat: answer{RefundFail, ErrNotFrozen, "押金未冻结"},
		alipay: answer{RefundFail, AliAuthOrderNotPaid, "预授权订单未支付"},
	}
	depositAmountTooLarge = byWallet{
		other:  answer{RefundFail, ErrAmountTooLarge, ""},
		wechat: answer{RefundFail, ErrAmountTooLarge, ""},
		alipay: answer{RefundFail, AliAuthAmountNotEnough, ""},
	}
)

// Alipay sub_codes (sources above).
const (
	AliSystemError            = "ACQ.SYSTEM_ERROR"
	AliBuyerBalanceNotEnough  = "ACQ.BUYER_BALANCE_NOT_ENOUGH"
	AliPaymentAuthCodeInvalid = "ACQ.PAYMENT_AUTH_CODE_INVALID"
	AliPaymentFail            = "ACQ.PAYMENT_FAIL"
	AliTradeHasSuccess        = "ACQ.TRADE_HAS_SUCCESS"
	AliContextInconsistent    = "ACQ.CONTEXT_INCONSISTENT"
	AliTradeHasClose          = "ACQ.TRADE_HAS_CLOSE"
	AliTradeCancelTimeOut     = "ACQ.TRADE_CANCEL_TIME_OUT"
	AliTradeNotExist          = "ACQ.TRADE_NOT_EXIST"
	AliTradeStatusError       = "ACQ.TRADE_STATUS_ERROR"
	AliRefundFeeErr           = "ACQ.REASON_TRADE_REFUND_FEE_ERR"
	AliTradeNotAllowRefund    = "ACQ.TRADE_NOT_ALLOW_REFUND"
	AliDiscordantRepeat       = "ACQ.DISCORDANT_REPEAT_REQUEST"
	AliAuthOrderHasFinished   = "ACQ.AUTH_ORDER_HAS_FINISHED"
	AliAuthOrderHasClosed     = "ACQ.AUTH_ORDER_HAS_CLOSED"
	AliAuthOrderNotPaid       = "ACQ.AUTH_ORDER_NOT_PAID"
	AliAuthAmountNotEnough    = "ACQ.AUTH_AMOUNT_NOT_ENOUGH"
)
