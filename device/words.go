package device

import "github.com/posagent/posagent/device/orders"

// say gives err the words a person reads (orders.Say).
func say(words string, err error) error { return orders.Say(words, err) }

// wordsOf are err's own words, or the words of its code.
func wordsOf(err error, code string) string {
	if w := orders.Words(err); w != "" {
		return w
	}
	return codeWords[code]
}

// codeWords are the words of each error code, where an error has none of
// its own.
var codeWords = map[string]string{
	"bad_request":         "输入有误",
	"busy":                "设备正忙：另一笔收款正在等待付款码，请先完成或取消",
	"conflict":            "当前状态不允许此操作",
	"forbidden":           "没有权限",
	"not_found":           "未找到",
	"staff_auth":          "工号或密码错误",
	"pin_locked":          "密码错误次数过多，已锁定，请稍后再试",
	"no_roster":           "尚未收到员工名单，无法验证工号和密码",
	"internal":            "设备内部错误，请重试或联系管理员",
	"no_printer":          "本机没有打印机",
	"too_many_streams":    "连接过多，请稍后再试",
	"unauthorized":        "未授权：请从收银应用打开",
	"bad_host":            "拒绝访问",
	"bad_origin":          "拒绝访问",
	"bad_content_type":    "请求格式有误",
	"body_too_large":      "请求内容过长",
	"unconfirmed_payment": "有收款结果待确认",
}
