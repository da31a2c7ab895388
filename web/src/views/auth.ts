// Sign in and sign up: one form each, errors from the server shown as they are.
import { ApiError } from '../api'
import type { AppContext, View } from '../context'
import { field, h, notice } from '../dom'
import { href, safeNext } from '../routes'

export function authView(
  ctx: AppContext,
  mode: 'signin' | 'signup',
  opts: { invite?: string; next?: string },
): View {
  const signingUp = mode === 'signup'
  const username = h('input', {
    name: 'username',
    autocomplete: 'username',
    required: true,
    minlength: 3,
    maxlength: 32,
    pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{2,31}',
    autocapitalize: 'none',
    spellcheck: 'false',
  })
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: signingUp ? 'new-password' : 'current-password',
    required: true,
    minlength: signingUp ? 8 : null,
  })
  const invite = h('input', { name: 'invite', value: opts.invite ?? '', autocomplete: 'off' })
  const status = notice()
  const submit = h('button', { type: 'submit', class: 'primary' }, signingUp ? 'Create account' : 'Sign in')

  const form = h(
    'form',
    {
      class: 'card auth',
      'aria-labelledby': 'auth-title',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault()
        status.clear()
        submit.disabled = true
        try {
          if (signingUp) await ctx.session.signUp(username.value.trim(), password.value, invite.value.trim())
          else await ctx.session.signIn(username.value.trim(), password.value)
          ctx.navigate(safeNext(opts.next))
        } catch (error) {
          status.show(error instanceof ApiError ? error.message : 'something went wrong; try again')
          submit.disabled = false
          ;(signingUp ? username : password).focus()
        }
      },
    },
    h('h1', { id: 'auth-title' }, signingUp ? 'Create your Tandem account' : 'Sign in to Tandem'),
    field(
      'Username',
      username,
      signingUp ? '3–32 letters, digits, “_”, “.” or “-”' : undefined,
    ),
    field('Password', password, signingUp ? 'At least 8 characters; a few words make a good one' : undefined),
    signingUp ? field('Invite code (optional)', invite, 'Joins the workspace that invited you') : null,
    status.el,
    submit,
    h(
      'p',
      { class: 'switch' },
      signingUp ? 'Already have an account? ' : 'New to Tandem? ',
      h('a', { href: signingUp ? href.signin(opts.next) : href.signup(opts.next) }, signingUp ? 'Sign in' : 'Create an account'),
    ),
  )
  queueMicrotask(() => username.focus())
  return { el: h('div', { class: 'auth-page' }, form), title: signingUp ? 'Sign up' : 'Sign in' }
}
