// i18n.js — the interface's two languages.  The choice is the browser's
// language until the user picks one in the header; the pick is kept in
// localStorage (a preference, nothing secret).  Elements carry
// data-i18n="key" (text), data-i18n-placeholder / -title / -aria-label.

const STORE_KEY = 'fieldsync.lang';

const DICT = {
  en: {
    'app.title': 'fieldsync',
    'app.subtitle': 'Central office',
    'nav.dashboard': 'Dashboard',
    'nav.customers': 'Customers',
    'nav.checkins': 'Check-ins',
    'nav.duplicates': 'Duplicates',
    'checkins.title': 'Check-ins by rep',
    'checkins.date': 'Day',
    'checkins.show': 'Show',
    'checkins.none': 'No check-ins on this day.',
    'checkins.count': '{n} check-ins',
    'checkins.count.one': '{n} check-in',
    'checkins.address': 'Address',
    'checkins.coords': 'Coordinates',
    'checkins.map': 'Map',
    'checkins.open': 'Open map',
    'checkin.at': 'Checked in: {place}',
    'dups.title': 'Suspected duplicate customers (撞单)',
    'dups.lead': 'Customers of different reps with the same phone number or WeChat id. Customers outside your sight show only their rep.',
    'dups.none': 'No suspected duplicates.',
    'dups.kind': 'Matched on',
    'dups.value': 'Value',
    'dups.customers': 'Customers (rep)',
    'dups.other': "another team's customer",
    'dups.forbidden': 'This list is for managers and admins.',
    'lang.label': 'Language',
    'live.live': 'Live',
    'live.connecting': 'Connecting…',
    'live.offline': 'Offline, retrying',
    'signin.title': 'Sign in',
    'signin.lead': 'Paste your access token. It is sent once to the server, which keeps you signed in with a secure cookie.',
    'signin.token': 'Access token',
    'signin.submit': 'Sign in',
    'signin.bad': 'That token was not accepted.',
    'signin.busy': 'Too many attempts; wait a minute.',
    'signout': 'Sign out',
    'role.rep': 'rep',
    'role.manager': 'manager',
    'role.admin': 'admin',
    'error.load': 'Could not load data: {msg}',
    'error.forbidden': 'You may not see this customer.',
    'error.notfound': 'No such customer (at that time).',
    'loading': 'Loading…',
    'updated': 'Updated {time}',
    'kpi.customers': 'Customers',
    'kpi.followups7': 'Follow-ups, last 7 days',
    'kpi.overdue': 'Overdue plans',
    'kpi.conflicts': 'Open conflicts',
    'chart.funnel': 'Pipeline funnel',
    'chart.funnel.note': 'Customers that reached each stage, and conversion from the stage before.',
    'chart.weekly': 'Follow-ups per rep per week',
    'chart.overdue': 'Overdue plans per rep',
    'chart.ttw': 'Days from first follow-up to won',
    'chart.hours': 'When customers buy',
    'chart.hours.note': 'Follow-ups before a win, by weekday and hour.',
    'list.birthdays': 'Upcoming birthdays',
    'list.showall': 'Show all {n}',
    'list.conflicts': 'Open conflicts',
    'list.devices': 'Device sync',
    'list.pool': 'Customer pool',
    'list.pool.note': 'Customers nobody owns, per team; returned by the server, claimed and released this week.',
    'list.returning': 'Going back to the pool soon',
    'col.team': 'Team',
    'col.inpool': 'In pool',
    'col.returned': 'Returned',
    'col.claimed': 'Claimed',
    'col.released': 'Released',
    'col.owner': 'Owner',
    'col.returns': 'Returns',
    'list.money': 'Pipeline and forecast',
    'list.money.note': 'Value per stage; open deals weighted by the stage probability, by month of expected close; win rate per rep.',
    'money.avg': 'Average won deal: {v}',
    'col.value': 'Value',
    'col.probability': 'Probability',
    'col.month': 'Month',
    'col.weighted': 'Weighted forecast',
    'col.won': 'Won',
    'col.lost': 'Lost',
    'col.winrate': 'Win rate',
    'list.reps': 'Reps',
    'col.stage': 'Stage',
    'col.count': 'In stage',
    'col.reached': 'Reached',
    'col.conversion': 'Conversion',
    'col.rep': 'Rep',
    'col.week': 'Week',
    'col.followups': 'Follow-ups',
    'col.overdue': 'Overdue',
    'col.customer': 'Customer',
    'col.days': 'Days',
    'col.device': 'Device',
    'col.user': 'User',
    'col.lastsync': 'Last sync',
    'col.customers': 'Customers',
    'col.followups7': 'Follow-ups (7 d)',
    'col.name': 'Name',
    'col.company': 'Company',
    'col.phone': 'Phone',
    'col.owner': 'Owner',
    'col.updated': 'Updated',
    'col.birthday': 'Birthday',
    'col.field': 'Field',
    'col.values': 'Values',
    'col.at': 'Time',
    'col.change': 'Change',
    'col.due': 'Due',
    'col.method': 'Method',
    'col.content': 'Content',
    'col.status': 'Status',
    'never': 'never',
    'none': 'Nothing here.',
    'days.today': 'today',
    'days.in': 'in {n} d',
    'weekday.0': 'Mon', 'weekday.1': 'Tue', 'weekday.2': 'Wed', 'weekday.3': 'Thu',
    'weekday.4': 'Fri', 'weekday.5': 'Sat', 'weekday.6': 'Sun',
    'cust.search': 'Search name, company, phone…',
    'cust.stage.any': 'All stages',
    'cust.owner.any': 'All owners',
    'cust.team.any': 'All teams',
    'col.team': 'Team',
    'cust.count': '{n} customers',
    'cust.count.one': '{n} customer',
    'cust.export': 'Export CSV',
    'cust.back': '← Customers',
    'cust.conflicts': '{n} conflicts',
    'cust.conflicts.one': '{n} conflict',
    'cust.more': 'Show more',
    'cust.sort.name': 'By name',
    'cust.sort.next': 'By next plan',
    'cust.sort.last': 'By last follow-up',
    'cust.sort.amount': 'By amount',
    'sheet.basic': 'Customer information',
    'sheet.followups': 'Follow-ups',
    'photo.missing': 'The photo has not reached the server yet',
    'sheet.progress': 'Sales progress',
    'sheet.plans': 'Next follow-up plans',
    'sheet.feedback': 'Customer feedback',
    'sheet.timeline': 'Timeline',
    'sheet.asof': 'As of',
    'sheet.asof.apply': 'Show',
    'sheet.asof.now': 'Now',
    'sheet.asof.banner': 'Showing the sheet as it stood at {time}.',
    'sheet.asof.row': 'As of this',
    'plan.done': 'done',
    'plan.open': 'open',
    'plan.overdue': 'overdue',
    'field.name': 'Name', 'field.phone': 'Phone', 'field.email': 'Email',
    'field.wechat': 'WeChat', 'field.company': 'Company', 'field.title': 'Title',
    'field.birthday': 'Birthday', 'field.notes': 'Preferences / notes',
    'field.owner': 'Owner', 'field.tags': 'Tags', 'field.stage': 'Stage',
    'field.cycle': 'Follow-up cycle (days)',
    'method.phone': 'Phone', 'method.email': 'Email', 'method.visit': 'Visit',
    'method.wechat': 'WeChat', 'method.meeting': 'Meeting', 'method.other': 'Other',
    'tl.followup.added': 'Follow-up added ({method})',
    'tl.plan.added': 'Plan added for {due}',
    'tl.feedback.added': 'Feedback added',
    'tl.customer.added': 'Customer created:',
    'tl.deleted': '{what} deleted',
    'tl.restored': '{what} restored',
    'tl.what.customer': 'Customer', 'tl.what.followup': 'Follow-up', 'tl.what.plan': 'Plan',
    'tl.what.feedback': 'Feedback', 'tl.what.stagechg': 'Stage change',
    'tl.resolved': 'resolved to',
    'tl.sep': ': ',
    'tl.settled': '(settled: {values})',
    'tl.concurrent': 'concurrent with: {values}',
    'field.content': 'Content', 'field.method': 'Method', 'field.result': 'Result',
    'field.at': 'Time', 'field.due': 'Due', 'field.done': 'Done', 'field.note': 'Note',
    'field.from': 'From', 'field.to': 'To', 'field.author': 'Author', 'field.customer': 'Customer',
    'field.deleted': 'Deleted',
    'field.location': 'Check-in location', 'field.address': 'Check-in address',
  },
  zh: {
    'app.title': 'fieldsync',
    'app.subtitle': '总部',
    'nav.dashboard': '总览',
    'nav.customers': '客户',
    'nav.checkins': '签到',
    'nav.duplicates': '撞单',
    'checkins.title': '按销售查看拜访签到',
    'checkins.date': '日期',
    'checkins.show': '查看',
    'checkins.none': '当天没有签到。',
    'checkins.count': '{n} 次签到',
    'checkins.address': '地址',
    'checkins.coords': '坐标',
    'checkins.map': '地图',
    'checkins.open': '打开地图',
    'checkin.at': '签到：{place}',
    'dups.title': '疑似重复客户（撞单）',
    'dups.lead': '不同销售名下电话或微信相同的客户。你看不到的客户只显示其负责人。',
    'dups.none': '没有疑似重复的客户。',
    'dups.kind': '相同的',
    'dups.value': '号码',
    'dups.customers': '客户（负责人）',
    'dups.other': '其他团队的客户',
    'dups.forbidden': '此列表仅供经理和管理员查看。',
    'lang.label': '语言',
    'live.live': '实时',
    'live.connecting': '连接中…',
    'live.offline': '离线，正在重试',
    'signin.title': '登录',
    'signin.lead': '粘贴您的访问令牌。令牌只发送给服务器一次，之后由安全 Cookie 保持登录。',
    'signin.token': '访问令牌',
    'signin.submit': '登录',
    'signin.bad': '令牌无效。',
    'signin.busy': '尝试次数过多，请一分钟后再试。',
    'signout': '退出',
    'role.rep': '销售',
    'role.manager': '经理',
    'role.admin': '管理员',
    'error.load': '数据加载失败：{msg}',
    'error.forbidden': '您无权查看该客户。',
    'error.notfound': '没有该客户（在该时间点）。',
    'loading': '加载中…',
    'updated': '更新于 {time}',
    'kpi.customers': '客户数',
    'kpi.followups7': '近 7 天跟进',
    'kpi.overdue': '逾期计划',
    'kpi.conflicts': '未解决冲突',
    'chart.funnel': '销售漏斗',
    'chart.funnel.note': '到达各阶段的客户数，以及相对上一阶段的转化率。',
    'chart.weekly': '每位销售每周跟进次数',
    'chart.overdue': '每位销售的逾期计划',
    'chart.ttw': '从首次跟进到成交的天数',
    'chart.hours': '客户何时成交',
    'chart.hours.note': '成交前的跟进，按星期和小时统计。',
    'list.birthdays': '即将到来的生日',
    'list.showall': '显示全部 {n} 个',
    'list.conflicts': '未解决冲突',
    'list.devices': '设备同步',
    'list.pool': '公海',
    'list.pool.note': '各团队无人跟进的客户；本周退回、领取和释放的数量。',
    'list.returning': '即将退回公海',
    'col.team': '团队',
    'col.inpool': '公海客户',
    'col.returned': '退回',
    'col.claimed': '领取',
    'col.released': '释放',
    'col.owner': '负责人',
    'col.returns': '退回时间',
    'list.money': '商机金额与预测',
    'list.money.note': '各阶段金额；未结商机按阶段赢率加权，按预计成交月份汇总；各销售赢单率。',
    'money.avg': '平均成交金额：{v}',
    'col.value': '金额',
    'col.probability': '赢率',
    'col.month': '月份',
    'col.weighted': '加权预测',
    'col.won': '成交',
    'col.lost': '流失',
    'col.winrate': '赢单率',
    'list.reps': '销售人员',
    'col.stage': '阶段',
    'col.count': '当前',
    'col.reached': '到达',
    'col.conversion': '转化率',
    'col.rep': '销售',
    'col.week': '周',
    'col.followups': '跟进次数',
    'col.overdue': '逾期',
    'col.customer': '客户',
    'col.days': '天数',
    'col.device': '设备',
    'col.user': '用户',
    'col.lastsync': '最近同步',
    'col.customers': '客户数',
    'col.followups7': '跟进（7 天）',
    'col.name': '姓名',
    'col.company': '公司',
    'col.phone': '电话',
    'col.owner': '负责人',
    'col.updated': '更新时间',
    'col.birthday': '生日',
    'col.field': '字段',
    'col.values': '各方取值',
    'col.at': '时间',
    'col.change': '变更',
    'col.due': '到期',
    'col.method': '方式',
    'col.content': '内容',
    'col.status': '状态',
    'never': '从未',
    'none': '暂无。',
    'days.today': '今天',
    'days.in': '{n} 天后',
    'weekday.0': '周一', 'weekday.1': '周二', 'weekday.2': '周三', 'weekday.3': '周四',
    'weekday.4': '周五', 'weekday.5': '周六', 'weekday.6': '周日',
    'cust.search': '搜索姓名、公司、电话…',
    'cust.stage.any': '全部阶段',
    'cust.owner.any': '全部负责人',
    'cust.team.any': '全部团队',
    'col.team': '团队',
    'cust.count': '共 {n} 位客户',
    'cust.export': '导出 CSV',
    'cust.back': '← 客户列表',
    'cust.conflicts': '{n} 个冲突',
    'cust.more': '显示更多',
    'cust.sort.name': '按姓名',
    'cust.sort.next': '按下次跟进',
    'cust.sort.last': '按最近跟进',
    'cust.sort.amount': '按金额',
    'sheet.basic': '客户基本信息',
    'sheet.followups': '跟进情况',
    'photo.missing': '照片尚未上传到服务器',
    'sheet.progress': '销售进展',
    'sheet.plans': '下次跟进计划',
    'sheet.feedback': '客户反馈',
    'sheet.timeline': '变更记录',
    'sheet.asof': '查看时间点',
    'sheet.asof.apply': '查看',
    'sheet.asof.now': '当前',
    'sheet.asof.banner': '显示的是 {time} 时的跟进单。',
    'sheet.asof.row': '查看此时',
    'plan.done': '已完成',
    'plan.open': '待办',
    'plan.overdue': '已逾期',
    'field.name': '姓名', 'field.phone': '电话', 'field.email': '邮箱',
    'field.wechat': '微信', 'field.company': '公司', 'field.title': '职位',
    'field.birthday': '生日', 'field.notes': '偏好 / 备注',
    'field.owner': '负责人', 'field.tags': '标签', 'field.stage': '阶段',
    'field.cycle': '跟进周期（天）',
    'method.phone': '电话', 'method.email': '邮件', 'method.visit': '拜访',
    'method.wechat': '微信', 'method.meeting': '会议', 'method.other': '其他',
    'tl.followup.added': '跟进已添加（{method}）',
    'tl.plan.added': '已添加计划，时间 {due}',
    'tl.feedback.added': '已添加客户反馈',
    'tl.customer.added': '客户已创建：',
    'tl.deleted': '{what}已删除',
    'tl.restored': '{what}已恢复',
    'tl.what.customer': '客户', 'tl.what.followup': '跟进', 'tl.what.plan': '计划',
    'tl.what.feedback': '客户反馈', 'tl.what.stagechg': '阶段变更',
    'tl.resolved': '冲突已解决为',
    'tl.sep': '：',
    'tl.settled': '（处理的取值：{values}）',
    'tl.concurrent': '与以下取值同时修改：{values}',
    'field.content': '内容', 'field.method': '方式', 'field.result': '结果',
    'field.at': '时间', 'field.due': '到期', 'field.done': '完成', 'field.note': '备注',
    'field.from': '原阶段', 'field.to': '新阶段', 'field.author': '记录人', 'field.customer': '客户',
    'field.deleted': '已删除',
    'field.location': '签到位置', 'field.address': '签到地址',
  },
};

export const LANGS = ['en', 'zh'];

function initialLang() {
  let saved = null;
  try { saved = localStorage.getItem(STORE_KEY); } catch { /* storage off */ }
  if (LANGS.includes(saved)) return saved;
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return nav.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let lang = initialLang();
const listeners = new Set();

export function getLang() { return lang; }

// BCP 47 tag for <html lang> and Intl formatting.
export function locale() { return lang === 'zh' ? 'zh-CN' : 'en'; }

export function setLang(next) {
  if (!LANGS.includes(next) || next === lang) return;
  lang = next;
  try { localStorage.setItem(STORE_KEY, next); } catch { /* storage off */ }
  applyI18n(document);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.add(fn); }

// A count's form: with vars.n a number, KEY.one (if the language has it)
// when the language's plural rules say "one" ("1 conflict"); else KEY.
function pluralKey(key, vars) {
  if (!vars || typeof vars.n !== 'number') return key;
  const one = `${key}.one`;
  if (!(one in DICT[lang])) return key;
  return new Intl.PluralRules(locale()).select(vars.n) === 'one' ? one : key;
}

export function t(key, vars) {
  key = pluralKey(key, vars);
  let s = DICT[lang][key] ?? DICT.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

export function applyI18n(root) {
  document.documentElement.lang = locale();
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  if (root === document) document.title = `${t('app.title')} · ${t('app.subtitle')}`;
}

// A stage's label from its definition, in the current language.
export function stageLabel(defs, key) {
  const d = defs && defs.find((s) => s.key === key);
  if (!d) return key ?? '';
  if (lang === 'zh' && d.label_zh) return d.label_zh;
  return d.label || d.key;
}

export function fieldLabel(defs, key) {
  const d = defs && defs.find((f) => f.key === key);
  if (!d) return key;
  if (lang === 'zh' && d.label_zh) return d.label_zh;
  return d.label || d.key;
}

export function methodLabel(m) {
  if (!m) return '';
  const k = `method.${m}`;
  const s = t(k);
  return s === k ? m : s;
}
