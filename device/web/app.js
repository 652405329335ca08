// The cashier's console: talks only to the agent's local API (/v1/...) and
// follows its server-sent events. No framework, no build step. Everything
// the API says is put in the page with textContent, never as HTML.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);

  // ATTENTION: the agent stopped and a person settles it; the till may go on.
  const ERROR_WORDS = {
    busy: '设备正忙', conflict: '当前状态不允许此操作', forbidden: '没有权限', not_found: '未找到',
    staff_auth: '身份验证失败', pin_locked: '已锁定', no_roster: '无法验证员工',
    bad_request: '输入有误', internal: '设备内部错误', network: '', http: '',
  };

  // ---- money: integer fen only, never floats ----

  // parseFen turns what the cashier typed ("128.5", "￥12", "0.04") into
  // integer fen by reading the digits; null when it is no amount.
  function parseFen(text) {
    let s = String(text).trim()
      .replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
      .replace(/[．。]/g, '.')
      .replace(/^[￥¥]\s*/, '');
    const m = /^(\d*)(?:\.(\d{0,2}))?$/.exec(s);
    if (!m || (m[1] + (m[2] || '')).length === 0 || m[1].length > 9) {
      return null;
    }
    const whole = m[1].replace(/^0+(?=\d)/, '');
    const frac = (m[2] || '').padEnd(2, '0');
    return Number(whole || '0') * 100 + Number(frac);
  }

  // yuan shows fen as ￥128.50.
  function yuan(fen) {
    const n = Math.trunc(Number(fen) || 0);
    const a = Math.abs(n);
    return (n < 0 ? '-' : '') + '￥' + Math.floor(a / 100) + '.' + String(a % 100).padStart(2, '0');
  }

  // walletName is the agent's name for the wallet of a view or a summary
  // row (wallet_name, as the receipt names it).
  function walletName(v) {
    return v.wallet_name || v.wallet || '—';
  }

  // when shows a time in China time (UTC+8, no daylight saving) whatever
  // zone the device's browser is set to, as receipts print it.
  const CST = 8 * 3600 * 1000;
  function when(v) {
    let d;
    if (typeof v === 'number') {
      d = new Date(v > 1e12 ? v : v * 1000);
    } else if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) {
      d = new Date(v);
    } else {
      return v == null ? '—' : String(v);
    }
    if (isNaN(d.getTime()) || d.getUTCFullYear() < 2000) {
      return '—';
    }
    const c = new Date(d.getTime() + CST); // its UTC fields are China time
    const today = new Date(Date.now() + CST);
    const p = (x) => String(x).padStart(2, '0');
    const hms = p(c.getUTCHours()) + ':' + p(c.getUTCMinutes()) + ':' + p(c.getUTCSeconds());
    const sameDay = c.getUTCFullYear() === today.getUTCFullYear() && c.getUTCMonth() === today.getUTCMonth() && c.getUTCDate() === today.getUTCDate();
    return sameDay ? hms : (c.getUTCMonth() + 1) + '-' + p(c.getUTCDate()) + ' ' + hms;
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(message, code, status, text) {
      super(message);
      this.code = code;
      this.status = status;
      this.text = text || ''; // the agent's words for a person (error.text)
    }
  }

  async function api(method, path, body) {
    // The header marks the console's own calls: the agent takes its cookie
    // only with it, and no other page can add it (no CORS here).
    const init = { method, cache: 'no-store', credentials: 'same-origin', headers: { 'X-Posagent-Console': '1' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new ApiError('无法连接收银服务，请检查设备是否在运行', 'network', 0);
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (resp.status === 401) {
      unauthorized();
    }
    if (!resp.ok) {
      const e = data && data.error;
      if (e && (e.message || e.text)) {
        throw new ApiError(e.message || e.text, e.code || 'http', resp.status, e.text);
      }
      const missing = resp.status === 404 || resp.status === 405 || resp.status === 501;
      throw new ApiError('请求失败（HTTP ' + resp.status + '）' + (missing ? '，此功能暂不可用' : ''), 'http', resp.status);
    }
    return data;
  }

  // unauthorized: the page was not opened by the cashier app's link (which
  // carries the token and leaves the console its cookie).
  function unauthorized() {
    const el = $('auth-error');
    el.textContent = '未授权：请从收银应用打开收银台（带令牌的链接），或联系店长';
    el.classList.remove('hidden');
  }

  // askPIN asks who does it and their PIN (a dialog, the on-shift staff's
  // id filled in); it resolves {staff_id, pin}, or null when cancelled.
  // The PIN is sent once and never kept.
  function askPIN(title) {
    return new Promise((resolve) => {
      const dlg = $('pin-dialog');
      const form = $('pin-form');
      $('pin-title').textContent = title;
      $('pin-staff').value = staffID();
      $('pin-input').value = '';
      showError('pin-error', null);
      const done = (v) => {
        form.onsubmit = null;
        $('pin-cancel').onclick = null;
        dlg.oncancel = null;
        $('pin-input').value = '';
        if (dlg.open) {
          dlg.close();
        }
        resolve(v);
      };
      form.onsubmit = (ev) => {
        ev.preventDefault();
        const id = $('pin-staff').value.trim();
        const pin = $('pin-input').value;
        if (!id || !pin) {
          showError('pin-error', !id ? '请输入工号' : '请输入密码');
          (!id ? $('pin-staff') : $('pin-input')).focus();
          return;
        }
        done({ staff_id: id, pin });
      };
      $('pin-cancel').onclick = () => done(null);
      dlg.oncancel = (ev) => { ev.preventDefault(); done(null); };
      dlg.showModal();
      ($('pin-staff').value ? $('pin-input') : $('pin-staff')).focus();
    });
  }

  // plain says an error in words: the agent's own words for a person
  // (error.text); from an agent too old to send them, the kind of error.
  function plain(err) {
    if (!(err instanceof ApiError)) {
      return '出错了：' + (err && err.message ? err.message : String(err));
    }
    if (err.text) {
      return err.text;
    }
    if (err.code === 'network' || err.code === 'http') {
      return err.message;
    }
    return ERROR_WORDS[err.code] || '操作失败';
  }

  function showError(id, err) {
    const el = $(id);
    el.textContent = err ? (typeof err === 'string' ? err : plain(err)) : '';
    el.classList.toggle('hidden', !err);
  }

  function show(el, on) {
    el.classList.toggle('hidden', !on);
  }

  // confirmTwice arms a button: the first tap asks, a second within 4 s does it.
  function confirmTwice(btn, ask, action) {
    btn.addEventListener('click', () => {
      if (btn.dataset.armed === '1') {
        btn.dataset.armed = '';
        btn.textContent = btn.dataset.label;
        btn.classList.remove('armed');
        action();
        return;
      }
      btn.dataset.label = btn.textContent;
      btn.dataset.armed = '1';
      btn.textContent = ask;
      btn.classList.add('armed');
      setTimeout(() => {
        if (btn.dataset.armed === '1') {
          btn.dataset.armed = '';
          btn.textContent = btn.dataset.label;
          btn.classList.remove('armed');
        }
      }, 4000);
    });
  }

  // ---- device state ----

  let state = null;

  function pill(id, text, cls) {
    const el = $(id);
    el.textContent = text;
    el.className = 'pill ' + (cls || '');
  }

  const DEVICE_WORDS = { ok: '正常', none: '未接', offline: '离线', paper_out: '缺纸', cover_open: '开盖' };

  function renderState(s) {
    if (!s || typeof s !== 'object') {
      return;
    }
    state = s;
    pill('st-online', s.online ? '平台：在线' : '平台：离线', s.online ? 'ok' : 'bad');
    const dev = (v) => DEVICE_WORDS[v] || v || '—';
    const cls = (v) => (v === 'ok' ? 'ok' : v === 'none' || !v ? '' : 'bad');
    pill('st-printer', '打印机：' + dev(s.printer), cls(s.printer));
    pill('st-scanner', '扫码枪：' + dev(s.scanner), cls(s.scanner));
    if (s.shift && s.shift.staff) {
      const who = s.shift.staff_name ? s.shift.staff_name + '（' + s.shift.staff + '）' : s.shift.staff;
      pill('st-shift', '当班：' + who + ' · ' + when(s.shift.since) + ' 起', 'ok');
    } else {
      pill('st-shift', '当班：无人', '');
    }
    const ob = $('st-outbox');
    if (s.outbox > 0) {
      pill('st-outbox', '待上传：' + s.outbox, 'warn');
    }
    show(ob, s.outbox > 0);
  }

  function setLink(up) {
    pill('st-link', up ? '已连接' : '连接中断，重连中…', up ? 'ok' : 'bad');
  }

  // ---- payments ----

  let cur = null; // the payment shown
  const watched = new Set(); // payments shown as UNKNOWN: their outcome is told when it comes

  // terminal: the agent has stopped running the payment (View.settled).
  function terminal(v) {
    return !!v.settled;
  }

  // title is the agent's title and tone for the view (View.title, .tone);
  // the switch is for an agent too old to send them.
  function title(v) {
    if (v.title) {
      return [v.title, v.tone || ''];
    }
    switch (v.state) {
      case 'AWAITING_CODE': return ['请出示付款码', 'waiting'];
      case 'SUBMITTED':
      case 'POLLING': return ['支付中', 'busy'];
      case 'REVERSING': return ['正在撤销', 'busy'];
      case 'UNKNOWN': return ['结果待确认', 'unknown'];
      case 'ATTENTION': return ['需人工处理', 'unknown'];
      case 'PAID': return [v.deposit ? '押金冻结成功' : '支付成功', 'ok'];
      case 'FAILED':
      case 'REVERSED': return [v.deposit ? '押金冻结失败' : '支付失败', 'bad'];
      case 'CANCELLED': return ['已取消', 'muted'];
    }
    return [v.state || '—', ''];
  }

  // applyPayment shows a payment view from the API or the stream. Views of
  // the payment shown never go back in time; another payment is taken up
  // when it is new (started by the platform, say) and nothing is under way.
  function applyPayment(v) {
    if (!v || !v.out_trade_no) {
      return;
    }
    if (cur && v.out_trade_no === cur.out_trade_no) {
      if ((terminal(cur) && !terminal(v)) || (v.updated_at || 0) < (cur.updated_at || 0)) {
        return;
      }
    } else if (cur && !terminal(cur)) {
      return;
    } else if (terminal(v)) {
      if (watched.delete(v.out_trade_no)) {
        note('单号 ' + v.out_trade_no + '（' + yuan(v.amount) + '）已有结果：' + title(v)[0] + (v.message ? '，' + v.message : ''));
      }
      return;
    }
    const wasPaid = cur && cur.out_trade_no === v.out_trade_no && cur.state === 'PAID';
    cur = v;
    if (v.state === 'PAID' && !wasPaid) {
      // Ready for the next sale: its amount is typed afresh.
      $('amount').value = '';
      $('desc').value = '';
    }
    if (v.state === 'UNKNOWN') {
      watched.add(v.out_trade_no);
    } else if (terminal(v)) {
      watched.delete(v.out_trade_no);
    }
    renderPayment();
  }

  function note(text) {
    const el = $('pay-note');
    if (el) {
      el.textContent = text;
      show(el, true);
    }
  }

  function renderPayment() {
    const v = cur;
    show($('progress'), !!v);
    if (!v) {
      return;
    }
    const [t, cls] = title(v);
    const box = $('progress');
    box.className = 'progress ' + cls;
    box.dataset.state = v.state || '';
    box.dataset.no = v.out_trade_no;
    $('pg-title').textContent = t;
    $('pg-amount').textContent = yuan(v.amount) + (v.deposit ? '（押金）' : '');
    // Not to take cash: while the customer is or may be charged and the
    // result is not in, above all when it is unknown (protocol §4.6).
    show($('pg-cash'), !!v.cash_warning);
    $('pg-message').textContent = v.message && v.message !== t ? v.message : '';
    const meta = ['单号 ' + v.out_trade_no];
    if (v.wallet) {
      meta.push(walletName(v));
    }
    if (v.code_tail) {
      meta.push('付款码尾号 ' + v.code_tail);
    }
    if (v.transaction_id) {
      meta.push('交易号 ' + v.transaction_id);
    }
    $('pg-meta').textContent = meta.join(' · ');
    const acts = Array.isArray(v.actions) ? v.actions : null; // what the agent takes now
    show($('cancel'), acts ? acts.includes('cancel') : !terminal(v) && v.state !== 'UNKNOWN' && v.state !== 'REVERSING');
    show($('again'), terminal(v) || v.state === 'UNKNOWN');
  }

  async function startPayment(ev) {
    ev.preventDefault();
    showError('pay-error', null);
    const fen = parseFen($('amount').value);
    if (fen === null || fen <= 0) {
      showError('pay-error', '请输入正确的金额（元，最多两位小数），例如 128.50');
      $('amount').focus();
      return;
    }
    const deposit = document.querySelector('input[name=kind]:checked').value === 'deposit';
    const btn = $('start');
    btn.disabled = true;
    try {
      const body = { amount: fen, desc: $('desc').value.trim(), deposit };
      let v;
      try {
        v = await api('POST', '/v1/payments', body);
      } catch (e) {
        // A payment whose result is not in may have charged the customer:
        // the agent asks for the cashier's explicit word before another.
        if (!(e instanceof ApiError) || e.code !== 'unconfirmed_payment' || !window.confirm(e.message + '\n\n确认顾客未付款，仍要发起新的收款吗？')) {
          throw e;
        }
        body.confirm_unknown = true;
        v = await api('POST', '/v1/payments', body);
      }
      if (cur && cur.out_trade_no !== v.out_trade_no) {
        cur = null;
      }
      show($('pay-note'), false);
      applyPayment(v);
    } catch (e) {
      showError('pay-error', e);
    } finally {
      btn.disabled = false;
    }
  }

  async function cancelPayment() {
    if (!cur) {
      return;
    }
    showError('pay-error', null);
    try {
      applyPayment(await api('POST', '/v1/payments/' + encodeURIComponent(cur.out_trade_no) + '/cancel'));
    } catch (e) {
      showError('pay-error', e);
    }
  }

  function nextPayment() {
    cur = null;
    renderPayment();
    showError('pay-error', null);
    show($('pay-note'), false);
    $('amount').value = '';
    $('desc').value = '';
    $('amount').focus();
  }

  async function refreshPayment() {
    if (!cur || terminal(cur)) {
      return;
    }
    try {
      applyPayment(await api('GET', '/v1/payments/' + encodeURIComponent(cur.out_trade_no)));
    } catch (e) {
      // the stream will tell; a failing poll is not the payment's failure
    }
  }

  // ---- deposits ----

  const deps = new Map(); // out_trade_no -> deposit view
  const DEP_WORDS = { FROZEN: '冻结中', CONSUMED: '已消费', RELEASED: '已解冻' };

  let depSeq = 0; // counts deposit views taken from the stream
  const depSeen = new Map(); // out_trade_no -> depSeq when the stream last told of it

  async function loadDeposits() {
    const since = depSeq;
    try {
      const list = await api('GET', '/v1/deposits?state=frozen');
      // What the stream told while the list was on its way is newer.
      const fresh = [...deps.values()].filter((d) => (depSeen.get(d.out_trade_no) || 0) > since);
      deps.clear();
      for (const d of Array.isArray(list) ? list : []) {
        if (d && d.out_trade_no) {
          deps.set(d.out_trade_no, d);
        }
      }
      fresh.forEach((d) => deps.set(d.out_trade_no, d));
      showError('dep-error', null);
    } catch (e) {
      showError('dep-error', e);
    }
    renderDeposits();
  }

  function staffID() {
    if (state && state.shift && state.shift.staff) {
      return state.shift.staff;
    }
    return $('staff-id').value.trim();
  }

  function depositState(d) {
    let s = DEP_WORDS[d.state] || d.state || '—';
    if (d.state === 'CONSUMED') {
      s += ' ' + yuan(d.consumed) + '，退回 ' + yuan(d.released);
    }
    if (d.state === 'RELEASED' && d.released) {
      s += ' ' + yuan(d.released);
    }
    const last = Array.isArray(d.ops) && d.ops.length ? d.ops[d.ops.length - 1] : null;
    if (last && (last.err_msg || last.err_code) && d.state === 'FROZEN') {
      s += '（上次操作失败：' + (last.err_msg || last.err_code) + '）';
    }
    return s;
  }

  function depositRow(d) {
    let tr = document.querySelector('tr[data-no="' + CSS.escape(d.out_trade_no) + '"]');
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.no = d.out_trade_no;
      for (let i = 0; i < 6; i++) {
        tr.appendChild(document.createElement('td'));
      }
      tr.cells[0].className = 'mono';
    }
    tr.cells[0].textContent = d.out_trade_no;
    tr.cells[1].textContent = yuan(d.amount);
    tr.cells[2].textContent = walletName(d);
    tr.cells[3].textContent = when(d.created_at);
    tr.cells[4].textContent = depositState(d);
    tr.className = d.state === 'FROZEN' ? '' : 'done';
    if (tr.dataset.state !== d.state) {
      tr.dataset.state = d.state;
      tr.cells[5].replaceChildren(...depositActions(d));
    }
    return tr;
  }

  function depositActions(d) {
    if (d.state !== 'FROZEN') {
      return [];
    }
    const no = d.out_trade_no;
    const amt = document.createElement('input');
    amt.className = 'dep-amount';
    amt.inputMode = 'decimal';
    amt.placeholder = '消费金额';
    amt.maxLength = 16;
    const consume = document.createElement('button');
    consume.type = 'button';
    consume.className = 'small primary';
    consume.textContent = '消费';
    const unfreeze = document.createElement('button');
    unfreeze.type = 'button';
    unfreeze.className = 'small';
    unfreeze.textContent = '解冻';
    consume.addEventListener('click', async () => {
      showError('dep-error', null);
      const fen = parseFen(amt.value);
      const d = deps.get(no) || {};
      if (fen === null || fen <= 0) {
        showError('dep-error', '请输入消费金额（元），不超过冻结金额 ' + yuan(d.amount));
        amt.focus();
        return;
      }
      if (d.amount && fen > d.amount) {
        showError('dep-error', '消费金额 ' + yuan(fen) + ' 超过冻结金额 ' + yuan(d.amount));
        return;
      }
      const who = await askPIN('消费 ' + yuan(fen) + (d.amount && fen < d.amount ? '，退回 ' + yuan(d.amount - fen) : '') + '：请输入密码');
      if (who) {
        await depositOp(no, 'consume', { amount: fen, staff_id: who.staff_id, pin: who.pin }, [consume, unfreeze]);
      }
    });
    confirmTwice(unfreeze, '确认解冻？', async () => {
      showError('dep-error', null);
      const who = await askPIN('解冻押金 ' + yuan((deps.get(no) || {}).amount) + '：请输入密码');
      if (who) {
        depositOp(no, 'unfreeze', { staff_id: who.staff_id, pin: who.pin }, [consume, unfreeze]);
      }
    });
    return [amt, consume, unfreeze];
  }

  async function depositOp(no, op, body, buttons) {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await api('POST', '/v1/deposits/' + encodeURIComponent(no) + '/' + op, body);
      const tr = document.querySelector('tr[data-no="' + CSS.escape(no) + '"]');
      if (tr && tr.dataset.state === 'FROZEN') {
        tr.cells[4].textContent = op === 'consume' ? '消费处理中…' : '解冻处理中…';
      }
    } catch (e) {
      showError('dep-error', e);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function renderDeposits() {
    const body = $('dep-rows');
    const rows = [...deps.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0)).map(depositRow);
    body.replaceChildren(...rows);
    show($('dep-empty'), rows.length === 0);
    show($('dep-table'), rows.length > 0);
  }

  function applyDeposit(d) {
    if (!d || !d.out_trade_no) {
      return;
    }
    if (d.state === 'FROZEN' || deps.has(d.out_trade_no)) {
      depSeen.set(d.out_trade_no, ++depSeq);
      deps.set(d.out_trade_no, d);
      renderDeposits();
    }
  }

  // openDeposit brings one deposit to the front: its row lit, its amount
  // field ready (a scanned deposit receipt, or a number typed in).
  async function openDeposit(no) {
    no = String(no || '').trim();
    if (!no) {
      return;
    }
    showError('dep-error', null);
    if (!deps.has(no)) {
      try {
        const d = await api('GET', '/v1/deposits/' + encodeURIComponent(no));
        deps.set(no, d);
        renderDeposits();
      } catch (e) {
        showError('dep-error', '押金 ' + no + '：' + plain(e));
        return;
      }
    }
    document.querySelectorAll('#dep-rows tr.open').forEach((tr) => tr.classList.remove('open'));
    const tr = document.querySelector('tr[data-no="' + CSS.escape(no) + '"]');
    if (tr) {
      tr.classList.add('open');
      tr.scrollIntoView({ block: 'center' });
      const amt = tr.querySelector('.dep-amount');
      if (amt) {
        amt.focus();
      }
    }
  }

  // ---- today's orders: refund and reprint ----

  const orders = new Map(); // out_trade_no → payment view

  async function loadOrders() {
    showError('ord-error', null);
    try {
      const list = await api('GET', '/v1/orders?limit=100'); // today, China time
      orders.clear();
      for (const v of list || []) {
        orders.set(v.out_trade_no, v);
      }
      renderOrders();
    } catch (e) {
      showError('ord-error', e);
    }
  }

  function ordNote(text) {
    const el = $('ord-note');
    el.textContent = text;
    show(el, !!text);
  }

  function orderRow(v) {
    const tr = document.createElement('tr');
    tr.dataset.no = v.out_trade_no;
    tr.dataset.state = v.state;
    const amount = yuan(v.amount) + (v.refunded ? '（已退 ' + yuan(v.refunded) + '）' : '');
    for (const [i, text] of [v.out_trade_no, amount, walletName(v), when(v.created_at), title(v)[0]].entries()) {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 0) {
        td.className = 'mono';
      }
      tr.appendChild(td);
    }
    const td = document.createElement('td');
    td.replaceChildren(...orderActions(v));
    tr.appendChild(td);
    return tr;
  }

  // orderActions are the buttons of what the agent says it takes for the
  // order now (view.actions): 退款 with its amount, 补打.
  function orderActions(v) {
    const acts = Array.isArray(v.actions) ? v.actions : [];
    const no = v.out_trade_no;
    const out = [];
    if (acts.includes('refund')) {
      const left = v.amount - (v.refunded || 0);
      const amt = document.createElement('input');
      amt.className = 'ord-amount';
      amt.inputMode = 'decimal';
      amt.placeholder = '退款金额';
      amt.maxLength = 16;
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'small danger refund';
      btn.textContent = '退款';
      btn.addEventListener('click', async () => {
        showError('ord-error', null);
        ordNote('');
        const fen = parseFen(amt.value);
        if (fen === null || fen <= 0 || fen > left) {
          showError('ord-error', '请输入退款金额（元），不超过可退余额 ' + yuan(left));
          amt.focus();
          return;
        }
        const who = await askPIN('退款 ' + yuan(fen) + '（单号 ' + no + '）：请输入密码');
        if (!who) {
          return;
        }
        btn.disabled = true;
        refundEnded.delete(no);
        try {
          await api('POST', '/v1/payments/' + encodeURIComponent(no) + '/refund', { amount: fen, staff_id: who.staff_id, pin: who.pin });
          // The stream may have told its end before this answer came.
          if (!refundEnded.has(no)) {
            ordNote('退款 ' + yuan(fen) + ' 已提交，处理中…（单号 ' + no + '）');
          }
        } catch (e) {
          showError('ord-error', e);
        } finally {
          btn.disabled = false;
        }
      });
      out.push(amt, btn);
    }
    if (acts.includes('reprint')) {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'small reprint';
      btn.textContent = '补打';
      btn.addEventListener('click', async () => {
        showError('ord-error', null);
        try {
          await api('POST', '/v1/orders/' + encodeURIComponent(no) + '/reprint');
          ordNote('已补打小票（单号 ' + no + '）');
        } catch (e) {
          showError('ord-error', e);
        }
      });
      out.push(btn);
    }
    return out;
  }

  function renderOrders() {
    const q = $('ord-q').value.trim();
    const rows = [...orders.values()]
      .filter((v) => !q || v.out_trade_no.includes(q))
      .sort((a, b) => (b.created_at || 0) - (a.created_at || 0))
      .map(orderRow);
    $('ord-rows').replaceChildren(...rows);
    show($('ord-empty'), rows.length === 0);
    show($('ord-table'), rows.length > 0);
    if (q && rows.length === 1) {
      rows[0].classList.add('open');
    }
  }

  // openOrder finds one order (a receipt scanned, a number typed): its row
  // lit, its refund amount ready. An order of another day is asked for.
  async function openOrder(no) {
    no = String(no || '').trim();
    if (!no) {
      return;
    }
    showError('ord-error', null);
    $('ord-q').value = no;
    if (!orders.has(no)) {
      try {
        orders.set(no, await api('GET', '/v1/payments/' + encodeURIComponent(no)));
      } catch (e) {
        renderOrders();
        showError('ord-error', '订单 ' + no + '：' + plain(e));
        return;
      }
    }
    renderOrders();
    const tr = document.querySelector('#ord-rows tr[data-no="' + CSS.escape(no) + '"]');
    if (tr) {
      tr.scrollIntoView({ block: 'center' });
      const amt = tr.querySelector('.ord-amount');
      if (amt) {
        amt.focus();
      }
    }
  }

  // Orders whose last refund the stream said ended (a refund that ends
  // before its POST is answered must not be shown as still pending).
  const refundEnded = new Set();

  // A refund's end, as the stream tells it: said, and its order re-read.
  async function onRefund(r) {
    if (!r || !r.out_trade_no) {
      return;
    }
    if (r.state === 'SUCCESS' || r.state === 'FAIL' || r.state === 'ATTENTION') {
      refundEnded.add(r.out_trade_no);
    }
    if (r.state === 'SUCCESS') {
      ordNote('退款成功 ' + yuan(r.amount) + '（单号 ' + r.out_trade_no + '）');
    } else if (r.state === 'FAIL' || r.state === 'ATTENTION') {
      showError('ord-error', '退款' + (r.state === 'FAIL' ? '失败' : '需人工处理') + ' ' + yuan(r.amount) + (r.err_msg ? '：' + r.err_msg : ''));
    }
    try {
      orders.set(r.out_trade_no, await api('GET', '/v1/payments/' + encodeURIComponent(r.out_trade_no)));
      renderOrders();
    } catch (e) {
      // the list is re-read on 刷新
    }
  }

  // ---- shift ----

  const LABELS = {
    store: '门店', device: '设备', staff_id: '工号', staff_name: '姓名', staff: '收银员',
    start: '开始', end: '结束', since: '开始', from: '开始', to: '结束',
    pay_count: '收款笔数', pay_amount: '收款金额', count: '笔数', amount: '金额', total: '合计',
    refund_count: '退款笔数', refund_amount: '退款金额', refunds: '退款',
    deposit_count: '押金冻结笔数', deposit_amount: '押金冻结金额',
    consume_count: '押金消费笔数', consume_amount: '押金消费金额',
    unfreeze_count: '押金解冻笔数', unfreeze_amount: '押金解冻金额',
    deposits_frozen: '押金冻结', deposits_consumed: '押金消费', deposits_released: '押金解冻',
    frozen: '冻结', consumed: '消费', released: '退回', net: '净收入', reprint: '补打',
    consume_released: '消费后退回押金', consume_released_count: '消费后退回笔数',
  };

  function isFenKey(k) {
    return /(^|_)(amount|total|net|frozen|consumed|released|refunded|fen)$/.test(k);
  }

  function fmtValue(k, v) {
    if (typeof v === 'boolean') {
      return v ? '是' : '否';
    }
    if (typeof v === 'number' && isFenKey(k)) {
      return yuan(v);
    }
    if (/(^|_)(at|since|start|end|from|to|time)$/.test(k)) {
      return when(v);
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if ('count' in v || 'amount' in v) {
        return (v.count != null ? v.count + ' 笔 ' : '') + (v.amount != null ? yuan(v.amount) : '');
      }
      return Object.entries(v).map(([kk, vv]) => (LABELS[kk] || kk) + ' ' + fmtValue(kk, vv)).join('，');
    }
    if (Array.isArray(v)) {
      return v.map((x) => (x && typeof x === 'object' ? JSON.stringify(x) : String(x))).join('，');
    }
    return v == null ? '—' : String(v);
  }

  function cellRow(cells, cls) {
    const tr = document.createElement('tr');
    if (cls) {
      tr.className = cls;
    }
    cells.forEach((c, i) => {
      const td = document.createElement(i === 0 ? 'th' : 'td');
      td.textContent = c;
      if (cells.length === 2 && i === 1) {
        td.colSpan = 2;
      }
      tr.appendChild(td);
    });
    return tr;
  }

  // The order of a summary's rows; fields not named here follow, net last.
  const SUMMARY_ORDER = ['store', 'device', 'staff_id', 'staff_name', 'staff', 'start', 'since', 'from', 'end', 'to',
    'pay', 'refund', 'deposit', 'consume', 'unfreeze', 'release'];
  const PAIRS = { pay: '收款', refund: '退款', deposit: '押金冻结', consume: '押金消费', unfreeze: '押金解冻', release: '押金退回' };

  function isWalletList(k, v) {
    return Array.isArray(v) ? v.length > 0 && v.every((x) => x && typeof x === 'object' && 'wallet' in x)
      : v == null && /wallet/.test(k);
  }

  // renderSummary shows whatever the summary JSON holds: X_count with
  // X_amount as one row (笔数, 金额), other scalar fields as labelled rows,
  // a list of {wallet, count, amount} as the wallet table, net last.
  function renderSummary(heading, sum) {
    if (!sum || typeof sum !== 'object') {
      return;
    }
    $('sum-title').textContent = heading;
    const items = []; // [sort key, row]
    const rank = (k) => {
      const i = SUMMARY_ORDER.indexOf(k);
      return i < 0 ? SUMMARY_ORDER.length : i;
    };
    let wallets = null;
    for (const [k, v] of Object.entries(sum)) {
      if (isWalletList(k, v)) {
        if (wallets === null || (k === 'wallets' && Array.isArray(v))) {
          wallets = Array.isArray(v) ? v : [];
        }
        continue;
      }
      const pair = /^(.+)_(count|amount)$/.exec(k);
      if (pair && typeof v === 'number' && typeof sum[pair[1] + '_count'] === 'number' && typeof sum[pair[1] + '_amount'] === 'number') {
        if (pair[2] === 'count') {
          const p = pair[1];
          items.push([rank(p), cellRow([PAIRS[p] || LABELS[p] || p, v + ' 笔', yuan(sum[p + '_amount'])], 'money')]);
        }
        continue;
      }
      if (k === 'net' || /_ms$/.test(k)) { // net last; start_ms/end_ms repeat start/end
        continue;
      }
      const money = typeof v === 'number' && isFenKey(k);
      items.push([rank(k), cellRow(money ? [LABELS[k] || k, '', yuan(v)] : [LABELS[k] || k, fmtValue(k, v)], money ? 'money' : '')]);
    }
    items.sort((a, b) => a[0] - b[0]);
    const rows = items.map((x) => x[1]);
    let net = sum.net;
    if (typeof net !== 'number' && typeof sum.pay_amount === 'number') {
      net = sum.pay_amount + (sum.consume_amount || 0) - (sum.refund_amount || 0);
    }
    if (typeof net === 'number') {
      rows.push(cellRow([LABELS.net, '', yuan(net)], 'money net'));
    }
    $('sum-rows').replaceChildren(...rows);
    wallets = wallets || [];
    $('sum-wallet-rows').replaceChildren(...(wallets.length
      ? wallets.map((w) => cellRow([walletName(w), (w.count ?? '—') + ' 笔', yuan(w.amount)]))
      : [cellRow(['本班无收款', '—'])]));
    show($('summary'), true);
  }

  async function shiftStart(ev) {
    ev.preventDefault();
    showError('shift-error', null);
    const id = $('staff-id').value.trim();
    if (!id) {
      showError('shift-error', '请输入工号');
      $('staff-id').focus();
      return;
    }
    const pin = $('staff-pin').value;
    $('staff-pin').value = '';
    try {
      await api('POST', '/v1/shift/start', { staff_id: id, staff_name: $('staff-name').value.trim(), pin });
      renderState(await api('GET', '/v1/state'));
    } catch (e) {
      showError('shift-error', e);
    }
  }

  async function shiftEnd() {
    showError('shift-error', null);
    const who = await askPIN('交班：本人或店长的密码');
    if (!who) {
      return;
    }
    try {
      renderSummary('交班汇总', await api('POST', '/v1/shift/end', who));
      renderState(await api('GET', '/v1/state'));
    } catch (e) {
      showError('shift-error', e);
    }
  }

  async function shiftSummary() {
    showError('shift-error', null);
    try {
      renderSummary('当班汇总', await api('GET', '/v1/shift/summary'));
    } catch (e) {
      showError('shift-error', e);
    }
  }

  // ---- the event stream ----

  let events = 0;

  function listen() {
    const es = new EventSource('/v1/events');
    const on = (name, f) => es.addEventListener(name, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      events++;
      document.body.dataset.events = String(events);
      f(data);
    });
    es.onopen = () => {
      setLink(true);
      // Whatever was missed while the stream was down.
      refreshPayment();
      loadDeposits();
    };
    es.onerror = () => {
      setLink(false);
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(listen, 3000);
      }
    };
    on('state', renderState);
    on('payment', (v) => {
      document.body.dataset.paymentEvents = String(Number(document.body.dataset.paymentEvents || 0) + 1);
      applyPayment(v);
      if (v && v.out_trade_no && terminal(v)) {
        orders.set(v.out_trade_no, v);
        renderOrders();
      }
      if (v && v.deposit && v.state === 'PAID') {
        // A deposit just frozen joins the list, from the event itself.
        applyDeposit({
          out_trade_no: v.out_trade_no, amount: v.amount, state: v.deposit_state || 'FROZEN',
          consumed: v.consumed || 0, released: v.released || 0, wallet: v.wallet, created_at: v.created_at,
        });
      }
    });
    on('deposit', applyDeposit);
    on('scan', (d) => (d && d.deposit ? openDeposit(d.out_trade_no) : openOrder(d && d.out_trade_no)));
    on('refund', onRefund);
    on('shift', (sum) => renderSummary('交班汇总', sum));
  }

  // restoreOpen shows again what a reload lost: the payment at the till
  // (waiting for its code or in flight) before one UNKNOWN, the rest of
  // those UNKNOWN named in a note and watched for their outcome.
  async function restoreOpen() {
    let list;
    try {
      list = await api('GET', '/v1/payments/open');
    } catch (e) {
      return;
    }
    if (!Array.isArray(list) || list.length === 0) {
      return;
    }
    const later = (v) => (v.state === 'UNKNOWN' || v.state === 'ATTENTION' ? 1 : 0);
    list.sort((a, b) => later(a) - later(b) || (b.created_at || 0) - (a.created_at || 0));
    applyPayment(list[0]);
    const others = list.slice(1).filter((v) => later(v));
    for (const v of others) {
      watched.add(v.out_trade_no);
    }
    if (others.length) {
      note('另有 ' + others.length + ' 笔' + others.map((v) => '（' + v.out_trade_no + '，' + yuan(v.amount) + '）').join('') + '结果待确认，请勿收取现金');
    }
  }

  function init() {
    $('pay-form').addEventListener('submit', startPayment);
    $('cancel').addEventListener('click', cancelPayment);
    $('again').addEventListener('click', nextPayment);
    $('dep-refresh').addEventListener('click', loadDeposits);
    $('dep-find').addEventListener('submit', (ev) => {
      ev.preventDefault();
      openDeposit($('dep-no').value);
    });
    $('ord-refresh').addEventListener('click', loadOrders);
    $('ord-find').addEventListener('submit', (ev) => {
      ev.preventDefault();
      openOrder($('ord-q').value);
    });
    $('ord-q').addEventListener('input', renderOrders);
    $('shift-form').addEventListener('submit', shiftStart);
    confirmTwice($('shift-end'), '确认交班？', shiftEnd);
    $('shift-sum').addEventListener('click', shiftSummary);
    api('GET', '/v1/state').then(renderState, () => {});
    restoreOpen();
    loadOrders();
    // EventSource sends the cookie (same origin) but cannot add headers:
    // the agent takes the cookie alone for reads.
    listen();
    // A backstop for a stream that dropped an event: the payment under way
    // is asked for now and then.
    setInterval(refreshPayment, 3000);
    renderPayment();
    renderDeposits();
  }

  // For the tests: the money arithmetic, reachable from the page.
  // show draws a payment view as the stream would bring it (the tests'
  // screenshot of every state).
  window.posConsole = { parseFen, yuan, show: (v) => { cur = v; renderPayment(); } };
  init();
})();
