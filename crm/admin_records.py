"""Admin pages for records made once through a business function and never edited."""


class MadeThroughFunctionAdmin:
    """Mixin for a ModelAdmin whose add form makes the record (its `clean` calls the
    business function the API and pages call) and whose records are then read only.

    `add_form` is that form; `add_form_user` names the form attribute that receives the
    manager making the record.
    """

    add_form = None
    add_form_user = ""

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        # Built by the admin (so a lead is a raw id, never a list of every lead), a new
        # class per request: it carries this request's manager.
        form = super().get_form(request, obj, change=change, form=self.add_form, **kwargs)
        setattr(form, self.add_form_user, request.user)
        return form

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else self.add_form.Meta.fields

    def save_model(self, request, obj, form, change):
        pass  # made by the business function when the form was checked
