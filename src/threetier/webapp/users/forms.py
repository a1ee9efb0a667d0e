"""HTML forms: they only parse the request; the services check every rule and their
messages are put next to these fields (errors.add_to_form). The widgets' maxlength
and required attributes just spare browser users a round trip.

Each field's help states its rule; once the field has an error, the page shows the
error (which names the rule) instead of the help, and `aria-describedby` points at
whichever of the two is on the page (`DescribedBoundField`).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.forms.boundfield import BoundField
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from threetier.webapp.users import rules


class DescribedBoundField(BoundField):
    """aria-describedby names the error list when there are errors, else the help text:
    the template shows one or the other, never an id that is not on the page."""

    @property
    def aria_describedby(self) -> str | None:
        if self.field.widget.attrs.get("aria-describedby") or not self.auto_id or self.is_hidden:
            return None
        if self.errors:
            return f"{self.auto_id}_error"
        return f"{self.auto_id}_helptext" if self.help_text else None


class RegistryForm(forms.Form):
    bound_field_class = DescribedBoundField


def _text(max_length: int, *, required: bool = True, autocomplete: str = "off") -> forms.TextInput:
    attrs: dict[str, object] = {"maxlength": max_length, "autocomplete": autocomplete}
    if required:
        attrs["required"] = True
    return forms.TextInput(attrs=attrs)


# format_lazy: translated when a page renders, in that visitor's language.
USER_ID_HELP = format_lazy(
    _("At most {count} characters: letters, digits, '-' and '_'."), count=rules.USER_ID_MAX_LENGTH
)
USER_NAME_HELP = format_lazy(_("At most {count} characters."), count=rules.USER_NAME_MAX_LENGTH)
COMMENT_HELP = format_lazy(_("Optional, at most {count} characters."), count=rules.COMMENT_MAX_LENGTH)
ATTACHMENT_HELP = format_lazy(_("Optional, at most {size} MB."), size=rules.ATTACHMENT_MAX_MIB)
PASSWORD_HELP = _(
    "At least 8 characters, not only digits, not a common password and not like your user ID or name."
)


def _comment() -> forms.CharField:
    return forms.CharField(
        label=_("Comment"), required=False, help_text=COMMENT_HELP,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": rules.COMMENT_MAX_LENGTH}),
    )


class UserCreateForm(RegistryForm):
    user_id = forms.CharField(
        label=_("User ID"), required=False, help_text=USER_ID_HELP,
        widget=_text(rules.USER_ID_MAX_LENGTH, autocomplete="username"),
    )
    user_name = forms.CharField(
        label=_("User name"), required=False, help_text=USER_NAME_HELP, widget=_text(rules.USER_NAME_MAX_LENGTH)
    )
    # render_value=False: a password is never sent back to the browser, even after an error.
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        help_text=PASSWORD_HELP,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "required": True}
        ),
    )
    comment = _comment()
    attachment = forms.FileField(label=_("Attachment"), required=False, help_text=ATTACHMENT_HELP)


class UserEditForm(RegistryForm):
    user_name = forms.CharField(
        label=_("User name"), required=False, help_text=USER_NAME_HELP, widget=_text(rules.USER_NAME_MAX_LENGTH)
    )
    password = forms.CharField(
        label=_("New password"),
        required=False,
        strip=False,
        help_text=_("Leave empty to keep the current password."),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    comment = _comment()
    attachment = forms.FileField(label=_("Replace attachment"), required=False, help_text=ATTACHMENT_HELP)
    remove_attachment = forms.BooleanField(label=_("Remove the current attachment"), required=False)


class SignInForm(AuthenticationForm):
    """Django's sign-in form (django-axes counts its failures), labelled for the registry."""

    bound_field_class = DescribedBoundField

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("User ID")
        self.fields["username"].widget.attrs["maxlength"] = rules.USER_ID_MAX_LENGTH
